// Command spanguard-interop-go sends spans with the OpenTelemetry Go SDK's own OTLP
// exporters (otlptracegrpc or otlptracehttp, gzip on) and prints the id of every span
// it ended, one JSON object a line, so a test can check that each one arrived.
//
//	spanguard-interop-go -protocol grpc -endpoint 127.0.0.1:4317 -traces 5 -spans 4 -text '...'
//
// Each trace is a root span with children; every span carries `seq` (its number),
// `input.value` (the text given: a test plants secrets there) and a few numbers that
// must arrive untouched.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

type sent struct {
	Seq     int    `json:"seq"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

func exporter(ctx context.Context, protocol, endpoint string) (*otlptrace.Exporter, error) {
	switch protocol {
	case "grpc":
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithCompressor("gzip"))
	case "http":
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
			otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	return nil, fmt.Errorf("protocol must be grpc or http, not %q", protocol)
}

func run() error {
	protocol := flag.String("protocol", "grpc", "grpc or http")
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "host:port of the OTLP receiver")
	traces := flag.Int("traces", 3, "traces to send")
	spans := flag.Int("spans", 4, "spans per trace (a root and its children)")
	text := flag.String("text", "hello", "the input.value of every span")
	flag.Parse()

	ctx := context.Background()
	exp, err := exporter(ctx, *protocol, *endpoint)
	if err != nil {
		return err
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(50), sdktrace.WithBatchTimeout(200*time.Millisecond)),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("interop-go"),
			attribute.String("client.language", "go"))),
	)
	tracer := provider.Tracer("spanguard-interop-go")
	out := json.NewEncoder(os.Stdout)
	seq := 0
	record := func(span trace.Span) error {
		sc := span.SpanContext()
		err := out.Encode(sent{Seq: seq, TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String()})
		seq++
		return err
	}
	attrs := func() []attribute.KeyValue {
		return []attribute.KeyValue{
			attribute.Int("seq", seq), attribute.String("input.value", *text),
			attribute.Int("llm.token_count.total", 1234), attribute.Float64("llm.temperature", 0.25),
		}
	}
	for t := 0; t < *traces; t++ {
		rootCtx, root := tracer.Start(ctx, fmt.Sprintf("go-root-%d", t), trace.WithAttributes(attrs()...))
		if err := record(root); err != nil {
			return err
		}
		for c := 1; c < *spans; c++ {
			_, child := tracer.Start(rootCtx, fmt.Sprintf("go-child-%d-%d", t, c), trace.WithAttributes(attrs()...))
			if err := record(child); err != nil {
				return err
			}
			child.End()
		}
		root.End()
	}
	if err := provider.ForceFlush(ctx); err != nil {
		return err
	}
	return provider.Shutdown(ctx)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "spanguard-interop-go:", err)
		os.Exit(1)
	}
}
