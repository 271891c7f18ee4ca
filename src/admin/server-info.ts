// GET /server_info (source/server/admin/server_info_handler.cc): envoy.admin.v3.ServerInfo as
// pretty proto3 JSON with every primitive field printed (always_print_primitive_fields), so
// command-line options the caller did not give appear with Envoy's defaults.
import { prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminResponse, type CommandLineOptions,
  type ServerInfo,
} from './types.ts';

// envoy.admin.v3.CommandLineOptions, in the .proto's order, with Envoy's defaults.
const OPTION_DEFAULTS: readonly [string, unknown][] = [
  ['base_id', 0],
  ['use_dynamic_base_id', false],
  ['skip_hot_restart_on_no_parent', false],
  ['skip_hot_restart_parent_stats', false],
  ['base_id_path', ''],
  ['concurrency', 0],
  ['config_path', ''],
  ['config_yaml', ''],
  ['allow_unknown_static_fields', false],
  ['reject_unknown_dynamic_fields', false],
  ['ignore_unknown_dynamic_fields', false],
  ['skip_deprecated_logs', false],
  ['admin_address_path', ''],
  ['local_address_ip_version', 'v4'],
  ['log_level', 'info'],
  ['component_log_level', ''],
  ['log_format', '[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v'],
  ['log_format_escaped', false],
  ['log_path', ''],
  ['service_cluster', ''],
  ['service_node', ''],
  ['service_zone', ''],
  ['drain_strategy', 'Gradual'],
  ['mode', 'Serve'],
  ['disable_hot_restart', false],
  ['enable_mutex_tracing', false],
  ['restart_epoch', 0],
  ['cpuset_threads', false],
  ['disabled_extensions', []],
  ['enable_fine_grain_logging', false],
  ['socket_path', '@envoy_domain_socket'],
  ['socket_mode', 0],
  ['enable_core_dump', false],
  ['stats_tag', []],
  ['file_flush_interval', 10],
  ['drain_time', 600],
  ['parent_shutdown_time', 900],
];
const DURATIONS = new Set(['file_flush_interval', 'drain_time', 'parent_shutdown_time']);

/** google.protobuf.Duration in JSON: "<seconds>s". */
function duration(seconds: number): string {
  return `${Math.max(0, seconds)}s`;
}

function commandLineOptions(given: CommandLineOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, def] of OPTION_DEFAULTS) {
    const v = given[key] ?? def;
    // uint64 fields are strings in proto3 JSON.
    out[key] = DURATIONS.has(key) ? duration(Number(v)) : key === 'base_id' ? String(v) : v;
  }
  for (const [key, v] of Object.entries(given)) if (!(key in out)) out[key] = v;
  return out;
}

export function renderServerInfo(info: ServerInfo): string {
  return prettyJson({
    version: info.version,
    state: info.state,
    hot_restart_version: info.hot_restart_version ?? 'disabled',
    command_line_options: commandLineOptions(info.command_line_options),
    node: info.node ?? {},
    uptime_current_epoch: duration(info.uptime_current_epoch),
    uptime_all_epochs: duration(info.uptime_all_epochs),
  });
}

export const serverInfoHandler: AdminHandler = {
  prefix: '/server_info',
  help: 'print server version/status information',
  mutatesState: false,
  handle(_req, opts: AdminOptions): AdminResponse {
    return { status: 200, contentType: CONTENT_JSON, body: renderServerInfo(opts.serverInfo()) };
  },
};
