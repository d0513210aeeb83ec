/** Stylesheets imported for their side effect (Vite bundles them beside the chunk that imports them). */
declare module '*.css'
