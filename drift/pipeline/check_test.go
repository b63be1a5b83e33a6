package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/gitsource"
)

// Check's error is a *SourceError when the source alone failed, and the
// connection's error when the renderer needed the cluster and it was not
// reached: check --fleet tells source-error from unreachable by it.
func TestCheckSourceError(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		name       string
		dir, path  string
		mode       gitsource.RenderMode
		wantSource bool
		wantIn     string
	}{
		{"missing path", filepath.Join("..", "..", "testdata", "check"), "overlays/missing", gitsource.RenderAuto, true, "overlays/missing"},
		{"not a chart", filepath.Join("..", "..", "testdata", "check"), "app", gitsource.RenderHelm, true, "Chart.yaml"},
		{"chart without its cluster", filepath.Join("..", "..", "testdata", "helm"), "webapp", gitsource.RenderHelm, false, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(context.Background(), CheckOptions{
				Source: gitsource.Options{Dir: tt.dir, Path: tt.path, CacheDir: t.TempDir(),
					Render: gitsource.RenderOptions{Mode: tt.mode}},
				Connect: func(context.Context) (*Cluster, error) { return nil, refused },
				Now:     time.Now,
			})
			if err == nil {
				t.Fatal("no error")
			}
			var serr *SourceError
			if got := errors.As(err, &serr); got != tt.wantSource {
				t.Errorf("SourceError %v, want %v: %v", got, tt.wantSource, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q lacks %q", err, tt.wantIn)
			}
		})
	}
}
