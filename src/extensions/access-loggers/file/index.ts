// envoy.access_loggers.file: one line per finished stream, appended to `path`
// (http/access-log.ts renders and writes it).
import { ExtensionCategory, type AccessLoggerModule } from '../../types.ts';
import { AccessLogger, type AccessLogSnap } from '../../../http/access-log.ts';
import { LOG_FORMAT_FIELDS, compileLogFormat } from '../log-format.ts';

const TYPE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';

const fileAccessLog: AccessLoggerModule<AccessLogSnap> = {
  name: 'envoy.access_loggers.file',
  category: ExtensionCategory.AccessLogger,
  types: [TYPE],
  fields: { [TYPE]: ['path', 'log_format'], ...LOG_FORMAT_FIELDS },
  protos: ['envoy/extensions/access_loggers/file/v3/file.proto'],
  compile: (tc, ctx) => ({ kind: 'file', path: tc.path ?? '', ...compileLogFormat(tc.log_format, ctx) }),
  createAccessLogger: (snap) => new AccessLogger(snap),
};
export default fileAccessLog;
