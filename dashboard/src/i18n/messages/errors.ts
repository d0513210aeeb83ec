import { defineMessages } from '../define.js'

/**
 * The gateway's error codes, said in the reader's language. The gateway words its errors in English and
 * often names the record ("No device cam-0042"); English readers see that message as sent, readers of
 * another language see the code's message from here (`messageOf` in `src/api/errors.ts`).
 */
export const errors = defineMessages(
  {
    DOORSTEP_ERR_BAD_REQUEST: 'The request is not valid.',
    DOORSTEP_ERR_UNAUTHENTICATED: 'Your access token is not valid any more. Sign in again.',
    DOORSTEP_ERR_FORBIDDEN: 'Your role may not do this.',
    DOORSTEP_ERR_NOT_FOUND: 'Not found.',
    DOORSTEP_ERR_DEVICE_EXISTS: 'A unit with this id or serial number already exists.',
    DOORSTEP_ERR_IMPORT_INVALID: 'The import has invalid rows; nothing was imported.',
    DOORSTEP_ERR_PAYLOAD_TOO_LARGE: 'The upload is larger than allowed.',
    DOORSTEP_ERR_UNSUPPORTED_MEDIA: 'This kind of file is not accepted here.',
    DOORSTEP_ERR_INFLUX_UNAVAILABLE: 'The history database is not answering; try again shortly.',
    DOORSTEP_ERR_SPOOL_FULL: 'The gateway is overloaded; try again shortly.',
    DOORSTEP_ERR_SHUTTING_DOWN: 'The gateway is restarting; try again shortly.',
    DOORSTEP_ERR_AUTH_THROTTLED: 'Too many failed sign-ins from this address; wait a minute and try again.',
    DOORSTEP_ERR_NO_ADMIN_TOKEN: 'Issue a stored admin token before retiring the bootstrap token.',
    DOORSTEP_ERR_CLIP_EXPIRED: 'The clip was deleted by the retention policy.',
    DOORSTEP_ERR_RANGE_NOT_SATISFIABLE: 'The requested part of the file does not exist.',
    DOORSTEP_ERR_MEDIA_BUSY: 'The video processing queue is full; try again later.',
    DOORSTEP_ERR_UPLOAD_BUSY: 'Another upload of this clip is in progress; try again shortly.',
    DOORSTEP_ERR_CASE_EXISTS: 'A case with this number already exists.',
    DOORSTEP_ERR_CASE_CLOSED: 'The case is closed.',
    DOORSTEP_ERR_PULL_STATE: 'The pull is not in a state that allows this.',
    DOORSTEP_ERR_CONSENT_DECIDED: 'This request was already decided.',
    DOORSTEP_ERR_FIRMWARE_EXISTS: 'An image of this model and version is already stored.',
    DOORSTEP_ERR_CAMPAIGN_STATE: 'The campaign is not in a state that allows this.',
    DOORSTEP_ERR_CAMPAIGN_NO_UNITS:
      'No unit matches the campaign: check the image’s model, the versions and the districts.',
    DOORSTEP_ERR_INTERNAL: 'Something went wrong in the gateway. The error was logged.',
  },
  {
    DOORSTEP_ERR_BAD_REQUEST: '请求内容无效。',
    DOORSTEP_ERR_UNAUTHENTICATED: '访问令牌已失效，请重新登录。',
    DOORSTEP_ERR_FORBIDDEN: '您的角色无权执行此操作。',
    DOORSTEP_ERR_NOT_FOUND: '未找到。',
    DOORSTEP_ERR_DEVICE_EXISTS: '已存在相同编号或序列号的设备。',
    DOORSTEP_ERR_IMPORT_INVALID: '导入内容有错误行，未导入任何设备。',
    DOORSTEP_ERR_PAYLOAD_TOO_LARGE: '上传内容超过允许的大小。',
    DOORSTEP_ERR_UNSUPPORTED_MEDIA: '此处不接受这种文件类型。',
    DOORSTEP_ERR_INFLUX_UNAVAILABLE: '历史数据库暂无响应，请稍后重试。',
    DOORSTEP_ERR_SPOOL_FULL: '网关负载过高，请稍后重试。',
    DOORSTEP_ERR_SHUTTING_DOWN: '网关正在重启，请稍后重试。',
    DOORSTEP_ERR_AUTH_THROTTLED: '此地址登录失败次数过多，请一分钟后再试。',
    DOORSTEP_ERR_NO_ADMIN_TOKEN: '请先签发一个管理员令牌，再停用初始令牌。',
    DOORSTEP_ERR_CLIP_EXPIRED: '该录像已按保留策略删除。',
    DOORSTEP_ERR_RANGE_NOT_SATISFIABLE: '请求的文件片段不存在。',
    DOORSTEP_ERR_MEDIA_BUSY: '视频处理队列已满，请稍后重试。',
    DOORSTEP_ERR_UPLOAD_BUSY: '该录像正在通过另一网关上传，请稍后重试。',
    DOORSTEP_ERR_CASE_EXISTS: '已存在相同编号的案件。',
    DOORSTEP_ERR_CASE_CLOSED: '案件已结案。',
    DOORSTEP_ERR_PULL_STATE: '当前调取状态不允许此操作。',
    DOORSTEP_ERR_CONSENT_DECIDED: '该申请已经处理过。',
    DOORSTEP_ERR_FIRMWARE_EXISTS: '该型号和版本的映像已存在。',
    DOORSTEP_ERR_CAMPAIGN_STATE: '升级任务当前的状态不允许此操作。',
    DOORSTEP_ERR_CAMPAIGN_NO_UNITS: '没有设备符合此升级任务：请检查映像的型号、版本范围和警区。',
    DOORSTEP_ERR_INTERNAL: '网关内部出错，错误已记录。',
  },
)
