package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/tollgate/tollgate/pkg/config"
)

// newLogger builds the process logger: JSON, or text on a terminal when
// the format is "auto".
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	return newLoggerFor(c, w, isTerminal(w))
}

// newLoggerFor is newLogger writing to w, which is (or stands for) a
// terminal when terminal.
func newLoggerFor(c config.Log, w io.Writer, terminal bool) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" || (c.Format == "auto" && terminal) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
