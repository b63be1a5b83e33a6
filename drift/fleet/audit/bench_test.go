package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
)

// BenchmarkAppend measures the log's write rate, one op an event, in
// batches of 1 (a commit per event: the worst case) and of 100 (a busy
// hub's sweep), over 1000 resources detected and changed in turn, so the
// open drifts are updated as in production.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		for _, size := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, size), func(b *testing.B) {
				l := openLog(b, be.dsn(b))
				ctx := context.Background()
				batch := make([]fleet.Event, size)
				b.ResetTimer()
				for n := 0; n < b.N; {
					k := min(size, b.N-n)
					for i := range k {
						typ := fleet.Detected
						if (n+i)/1000%2 == 1 {
							typ = fleet.Changed
						}
						batch[i] = ev(typ, fmt.Sprintf("obj-%03d", (n+i)%1000), time.Duration(n+i)*time.Millisecond)
					}
					if err := l.Append(ctx, batch[:k]); err != nil {
						b.Fatal(err)
					}
					n += k
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
