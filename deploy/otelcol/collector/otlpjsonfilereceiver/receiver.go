// Package otlpjsonfilereceiver is a stand-in for contrib's receiver of the same name,
// which the module proxy this project builds from does not serve (not at any release;
// nor is pkg/stanza at v0.161.0, its file-reading engine). It keeps the contrib
// receiver's component name and the config keys spanguard's tests and docs use
// (`include`, `start_at`, `poll_interval`, `max_log_size`), and does the same job for
// traces: every complete line of every matched file is one OTLP-JSON
// ExportTraceServiceRequest, unmarshalled by pdata's own JSON unmarshaler and handed on.
//
// What it leaves out, on purpose: logs and metrics, file_storage offsets (a restart
// reads files from `start_at` again), fingerprinting (a file is known by its path; a
// file that shrinks is read again from the start, as after rotation by truncation).
package otlpjsonfilereceiver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
)

const typeStr = "otlpjsonfile"

// Config mirrors the subset of contrib's otlpjsonfile (fileconsumer) settings that
// spanguard uses; unknown keys are rejected by the Collector's config decoder.
type Config struct {
	Include      []string      `mapstructure:"include"`
	StartAt      string        `mapstructure:"start_at"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
	MaxLogSize   int           `mapstructure:"max_log_size"`
}

// Validate fails on what would make the receiver read nothing or read without bound.
func (c *Config) Validate() error {
	if len(c.Include) == 0 {
		return errors.New("include: at least one glob is required")
	}
	for _, pattern := range c.Include {
		if _, err := filepath.Match(pattern, ""); err != nil {
			return fmt.Errorf("include: bad glob %q: %w", pattern, err)
		}
	}
	if c.StartAt != "beginning" && c.StartAt != "end" {
		return fmt.Errorf("start_at: %q is neither beginning nor end", c.StartAt)
	}
	if c.PollInterval <= 0 {
		return errors.New("poll_interval must be positive")
	}
	if c.MaxLogSize <= 0 {
		return errors.New("max_log_size must be positive")
	}
	return nil
}

// NewFactory returns the factory, with contrib's defaults (start at the end, poll every
// 200 ms, lines up to 1 MiB).
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		component.MustNewType(typeStr),
		func() component.Config {
			return &Config{StartAt: "end", PollInterval: 200 * time.Millisecond, MaxLogSize: 1 << 20}
		},
		receiver.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	return &fileReceiver{cfg: cfg.(*Config), logger: set.Logger, next: next, offsets: map[string]int64{}}, nil
}

type fileReceiver struct {
	cfg     *Config
	logger  *zap.Logger
	next    consumer.Traces
	offsets map[string]int64 // path -> bytes already handed on (whole lines only)
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func (r *fileReceiver) Start(_ context.Context, _ component.Host) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	// Files already there at start are read from the end unless start_at is beginning;
	// files that appear later are read from their first byte, as fileconsumer does.
	for _, path := range r.matches() {
		if r.cfg.StartAt == "end" {
			if info, err := os.Stat(path); err == nil {
				r.offsets[path] = info.Size()
			}
		} else {
			r.offsets[path] = 0
		}
	}
	r.done.Add(1)
	go r.poll(ctx)
	return nil
}

func (r *fileReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.done.Wait()
	}
	return nil
}

func (r *fileReceiver) matches() []string {
	var paths []string
	for _, pattern := range r.cfg.Include {
		found, _ := filepath.Glob(pattern)
		paths = append(paths, found...)
	}
	return paths
}

func (r *fileReceiver) poll(ctx context.Context) {
	defer r.done.Done()
	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	for {
		for _, path := range r.matches() {
			r.readNew(ctx, path)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// readNew hands on every complete line written since the last poll; a partial last
// line waits for its newline. A line over max_log_size is skipped whole, with a warning
// that names the file and the size, never the content.
func (r *fileReceiver) readNew(ctx context.Context, path string) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return
	}
	offset := r.offsets[path]
	if info.Size() < offset {
		offset = 0 // truncated or replaced: read it again from the start
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		return
	}
	reader := bufio.NewReaderSize(file, 64<<10)
	unmarshaler := &ptrace.JSONUnmarshaler{}
	for ctx.Err() == nil {
		line, err := readLine(reader, r.cfg.MaxLogSize)
		if errors.Is(err, io.EOF) {
			break // no complete line left
		}
		offset += int64(line.consumed)
		if err != nil {
			r.logger.Warn("skipping an over-long line", zap.String("file", path), zap.Int("bytes", line.consumed))
			continue
		}
		if len(line.body) == 0 {
			continue
		}
		traces, err := unmarshaler.UnmarshalTraces(line.body)
		if err != nil {
			// not zap.Error(err): the JSON decoder's message quotes the bytes around the
			// fault, and those are span content
			r.logger.Warn("skipping a line that is not OTLP-JSON traces", zap.String("file", path),
				zap.Int64("offset", offset-int64(line.consumed)), zap.Int("bytes", line.consumed))
			continue
		}
		if err := r.next.ConsumeTraces(ctx, traces); err != nil {
			r.logger.Warn("the next consumer refused a line's spans", zap.String("file", path), zap.Error(err))
		}
	}
	r.offsets[path] = offset
}

type lineRead struct {
	body     []byte
	consumed int
}

var errTooLong = errors.New("line longer than max_log_size")

// readLine returns one newline-terminated line without its newline; io.EOF (and
// nothing consumed) when the rest of the file has no newline yet.
func readLine(reader *bufio.Reader, limit int) (lineRead, error) {
	var body []byte
	consumed := 0
	tooLong := false
	for {
		chunk, err := reader.ReadSlice('\n')
		consumed += len(chunk)
		if !tooLong {
			if len(body)+len(chunk) > limit+1 {
				tooLong, body = true, nil
			} else {
				body = append(body, chunk...)
			}
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return lineRead{}, io.EOF // partial line: leave it for the next poll
	}
	if tooLong {
		return lineRead{consumed: consumed}, errTooLong
	}
	return lineRead{body: body[:len(body)-1], consumed: consumed}, nil
}
