package dev.spanguard.interop;

import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Sends spans with the OpenTelemetry Java SDK's own OTLP exporters (gzip on) and prints
 * the id of every span it ended, one JSON object a line, so a test can check that each
 * one arrived. The same flags and output as tests/interop/go:
 *
 * <pre>java -jar spanguard-interop-java.jar --protocol http --endpoint 127.0.0.1:4318 --traces 3 --spans 4 --text '...'</pre>
 */
public final class Main {
  private static final AttributeKey<Long> SEQ = AttributeKey.longKey("seq");
  private static final AttributeKey<String> INPUT = AttributeKey.stringKey("input.value");
  private static final AttributeKey<Long> TOKENS = AttributeKey.longKey("llm.token_count.total");
  private static final AttributeKey<Double> TEMPERATURE = AttributeKey.doubleKey("llm.temperature");

  private Main() {}

  static SpanExporter exporter(String protocol, String endpoint) {
    switch (protocol) {
      case "grpc":
        return OtlpGrpcSpanExporter.builder()
            .setEndpoint("http://" + endpoint)
            .setCompression("gzip")
            .setTimeout(Duration.ofSeconds(10))
            .build();
      case "http":
        return OtlpHttpSpanExporter.builder()
            .setEndpoint("http://" + endpoint + "/v1/traces")
            .setCompression("gzip")
            .setTimeout(Duration.ofSeconds(10))
            .build();
      default:
        throw new IllegalArgumentException("protocol must be grpc or http, not " + protocol);
    }
  }

  public static void main(String[] args) {
    Map<String, String> flags = new HashMap<>();
    flags.put("protocol", "grpc");
    flags.put("endpoint", "127.0.0.1:4317");
    flags.put("traces", "3");
    flags.put("spans", "4");
    flags.put("text", "hello");
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--") || !flags.containsKey(args[i].substring(2))) {
        System.err.println("spanguard-interop-java: unknown flag " + args[i]);
        System.exit(2);
      }
      flags.put(args[i].substring(2), args[i + 1]);
    }
    int traces = Integer.parseInt(flags.get("traces"));
    int spans = Integer.parseInt(flags.get("spans"));
    String text = flags.get("text");

    Resource resource = Resource.getDefault().merge(Resource.create(Attributes.of(
        AttributeKey.stringKey("service.name"), "interop-java",
        AttributeKey.stringKey("client.language"), "java")));
    SdkTracerProvider provider = SdkTracerProvider.builder()
        .setResource(resource)
        .addSpanProcessor(BatchSpanProcessor.builder(exporter(flags.get("protocol"), flags.get("endpoint")))
            .setMaxExportBatchSize(50)
            .setScheduleDelay(Duration.ofMillis(200))
            .build())
        .build();
    Tracer tracer = provider.get("spanguard-interop-java");
    long seq = 0;
    for (int t = 0; t < traces; t++) {
      Span root = start(tracer.spanBuilder("java-root-" + t), seq, text).startSpan();
      print(seq++, root.getSpanContext());
      Context parent = Context.current().with(root);
      for (int c = 1; c < spans; c++) {
        Span child = start(tracer.spanBuilder("java-child-" + t + "-" + c).setParent(parent), seq, text)
            .startSpan();
        print(seq++, child.getSpanContext());
        child.end();
      }
      root.end();
    }
    boolean flushed = provider.forceFlush().join(30, TimeUnit.SECONDS).isSuccess();
    provider.shutdown().join(30, TimeUnit.SECONDS);
    if (!flushed) {
      System.err.println("spanguard-interop-java: the exporter did not flush every span");
      System.exit(1);
    }
  }

  private static io.opentelemetry.api.trace.SpanBuilder start(
      io.opentelemetry.api.trace.SpanBuilder builder, long seq, String text) {
    return builder.setAttribute(SEQ, seq).setAttribute(INPUT, text)
        .setAttribute(TOKENS, 1234L).setAttribute(TEMPERATURE, 0.25);
  }

  private static void print(long seq, SpanContext context) {
    System.out.println("{\"seq\": " + seq + ", \"trace_id\": \"" + context.getTraceId()
        + "\", \"span_id\": \"" + context.getSpanId() + "\"}");
    System.out.flush();
  }
}
