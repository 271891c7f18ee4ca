// GET /runtime (source/server/admin/runtime_handler.cc handlerRuntime): the runtime's layers and,
// per key, its raw value in each layer ('' where a layer does not set it) and the final value
// (the last non-empty one), as JSON: {"entries": {key: {"final_value", "layer_values"}}, "layers":
// [names]}. Envoy builds a google.protobuf.Struct and prints it pretty; protobuf's JSON printer
// sorts a Struct's keys, so keys (and "entries" before "layers") come sorted.
import { prettyJson } from './format.ts';
import { CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminResponse } from './types.ts';

export const runtimeHandler: AdminHandler = {
  prefix: '/runtime',
  help: 'print runtime values',
  mutatesState: false,
  handle(_req, opts: AdminOptions): AdminResponse {
    const layers = opts.runtimeLayers();
    const keys = new Set<string>();
    for (const l of layers) for (const k of l.values.keys()) keys.add(k);
    const entries: Record<string, { final_value: string; layer_values: string[] }> = {};
    for (const k of [...keys].sort()) {
      let finalValue = '';
      const layerValues = layers.map((l) => {
        const raw = l.values.get(k)?.raw ?? '';
        if (raw !== '') finalValue = raw;
        return raw;
      });
      entries[k] = { final_value: finalValue, layer_values: layerValues };
    }
    return { status: 200, contentType: CONTENT_JSON, body: prettyJson({ entries, layers: layers.map((l) => l.name) }) };
  },
};
