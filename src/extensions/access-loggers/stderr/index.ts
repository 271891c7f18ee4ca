// envoy.access_loggers.stderr: one line per finished stream, written to the process's stderr
// (http/access-log.ts renders and writes it).
import { ExtensionCategory, type AccessLoggerModule } from '../../types.ts';
import { AccessLogger, type AccessLogSnap } from '../../../http/access-log.ts';
import { LOG_FORMAT_FIELDS, compileLogFormat } from '../log-format.ts';

const TYPE = 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

const stderrAccessLog: AccessLoggerModule<AccessLogSnap> = {
  name: 'envoy.access_loggers.stderr',
  category: ExtensionCategory.AccessLogger,
  types: [TYPE],
  fields: { [TYPE]: ['log_format'], ...LOG_FORMAT_FIELDS },
  protos: ['envoy/extensions/access_loggers/stream/v3/stream.proto'],
  compile: (tc, ctx) => ({ kind: 'stderr', path: '', ...compileLogFormat(tc.log_format, ctx) }),
  createAccessLogger: (snap) => new AccessLogger(snap),
};
export default stderrAccessLog;
