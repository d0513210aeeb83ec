import { h, render } from 'preact'
import { Services, ServicesContext } from './services.js'
import { App } from './views/app.js'

// The one place with side effects: build the services, resume a session, mount.
const services = new Services()
services.restore()
services.watchFragment()
const root = document.getElementById('app')
if (root) render(h(ServicesContext.Provider, { value: services }, h(App, {})), root)
