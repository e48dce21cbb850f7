// Export spans to a spanguard sidecar with one of the Node.js SDK's OTLP trace exporters.
//
// Usage: node export_spans.cjs <grpc|proto|json> <url> <none|gzip> <count> [token]
// Every span carries `seq` and an `input.value` holding an e-mail address (a secret the
// sidecar's default rules redact). Prints one JSON line: the export result code and the
// trace/span ids the SDK generated, so the test can compare them with what arrived.
"use strict";

const { TracerProvider, BatchSpanProcessor } = require("@opentelemetry/sdk-trace");
const { resourceFromAttributes } = require("@opentelemetry/resources");

const EXPORTERS = {
  grpc: "@opentelemetry/exporter-trace-otlp-grpc",
  proto: "@opentelemetry/exporter-trace-otlp-proto",
  json: "@opentelemetry/exporter-trace-otlp-http",
};

async function main() {
  const [kind, url, compression, countText, token] = process.argv.slice(2);
  const { OTLPTraceExporter } = require(EXPORTERS[kind]);
  const options = { url, compression, timeoutMillis: 10000 };
  if (token) {
    options.headers = kind === "grpc" ? undefined : { Authorization: `bearer ${token}` };
    if (kind === "grpc") {
      const { Metadata } = require("@grpc/grpc-js");
      const metadata = new Metadata();
      metadata.set("authorization", `bearer ${token}`);
      options.metadata = metadata;
    }
  }
  const exporter = new OTLPTraceExporter(options);
  const results = [];
  const recording = {
    export(spans, done) {
      exporter.export(spans, (result) => {
        results.push(result.code);
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => (exporter.forceFlush ? exporter.forceFlush() : Promise.resolve()),
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": `node-${kind}-${compression}` }),
    spanProcessors: [new BatchSpanProcessor({ exporter: recording, maxExportBatchSize: 50, scheduledDelayMillis: 50 })],
  });
  const tracer = provider.getTracer("spanguard-interop");
  const ids = [];
  for (let seq = 0; seq < Number(countText); seq++) {
    const span = tracer.startSpan(`node-span-${seq}`);
    span.setAttribute("seq", seq);
    span.setAttribute("input.value", `mail me at user${seq}@example.com please`);
    const context = span.spanContext();
    ids.push({ seq, traceId: context.traceId, spanId: context.spanId });
    span.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(JSON.stringify({ results, ids }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`export failed: ${error && (error.stack || error)}\n`);
  process.exit(1);
});
