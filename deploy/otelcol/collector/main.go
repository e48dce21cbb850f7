// Command otelcol-spanguard is the OpenTelemetry Collector that spanguard's tests and
// benchmarks run: the same wiring `ocb` (the Collector builder) generates, kept by hand
// so the module graph is pinned by the committed go.mod/go.sum and builds offline from
// the Go module proxy cache. Build it with `python3 tasks.py otelcol` (tasks.py caches
// the binary in .tools/ under a hash of these files).
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

func main() {
	info := component.BuildInfo{
		Command:     "otelcol-spanguard",
		Description: "OpenTelemetry Collector with the components spanguard deploys and tests",
		Version:     "0.161.0-spanguard",
	}
	set := otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
