package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/driftwatch/driftwatch/drift"
	"github.com/driftwatch/driftwatch/drift/pipeline"
)

// cloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type cloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// Severity is an extension attribute, so that a router can filter
	// without reading data: the resource's severity, or for a resolved
	// drift the one it had when last notified; absent when unknown.
	Severity drift.Severity `json:"severity,omitempty"`
	Data     drift.Resource `json:"data"`
}

// eventTypePrefix prefixes the CloudEvents type: dev.driftwatch.drift.detected,
// .changed and .resolved.
const eventTypePrefix = "dev.driftwatch.drift."

// notifier posts drift changes to webhooks as CloudEvents. Send never
// blocks: events wait in a bounded queue (dropped and counted when it is
// full) and are delivered in order by one goroutine, retried with
// exponential backoff. Resource data carries no Secret values: the report
// never holds them.
//
// Only drift at or above the threshold (--notify-on) is posted. A
// resolved drift is posted when its drift was; a drift that falls below
// the threshold is posted once more, as changed, so that a receiver can
// lower or close what it opened, and not again until it rises.
type notifier struct {
	urls      []string
	source    string
	threshold drift.Severity
	// config classifies what arrives without a severity.
	config *drift.Config
	// notified holds the severity last posted for each resource (by
	// subject) whose drift was posted and has not resolved since.
	// Resources that leave Git while drifting stay in it: it grows with
	// the resources ever notified, not with events.
	mu       sync.Mutex
	notified map[string]drift.Severity
	// drops counts the notifications dropped since dropLogged, the time
	// of the last log line about them.
	drops      int
	dropLogged time.Time
	client     *http.Client
	queue      chan cloudEvent
	attempts   int
	backoff    time.Duration
	log        *slog.Logger
	m          *metrics
	// allowed says whether this replica may notify (leader election).
	allowed func() bool

	pending sync.WaitGroup // events queued or in flight
	done    chan struct{}
	stop    context.CancelFunc
	once    sync.Once
}

// newNotifier starts a notifier; threshold is the least severity of
// drift posted (info: any), cfg the severity rules (nil: the defaults).
func newNotifier(urls []string, source string, threshold drift.Severity, cfg *drift.Config, m *metrics, log *slog.Logger, allowed func() bool) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{
		urls: urls, source: source, threshold: threshold, config: cfg, notified: map[string]drift.Severity{},
		m: m, log: log, allowed: allowed,
		client:   &http.Client{Timeout: 10 * time.Second},
		queue:    make(chan cloudEvent, 1000),
		attempts: 6, backoff: 500 * time.Millisecond,
		done: make(chan struct{}), stop: cancel,
	}
	go n.run(ctx)
	return n
}

// Send queues a change for delivery.
func (n *notifier) Send(c pipeline.Change) {
	if len(n.urls) == 0 || (n.allowed != nil && !n.allowed()) {
		return
	}
	if c.Resource.Severity == "" && (c.Resource.Status == drift.Missing || c.Resource.Status == drift.Extra) {
		// An Extra object the Monitor found itself: classify it here.
		n.config.Classify(&c.Resource)
	}
	subject := c.Resource.APIVersion + " " + c.Resource.ID()
	typ, sev, ok := n.admit(subject, c)
	if !ok {
		return
	}
	ev := cloudEvent{
		SpecVersion: "1.0", ID: newID(), Source: n.source, Type: eventTypePrefix + string(typ),
		Subject: subject, Time: c.Time.UTC(),
		DataContentType: "application/json", Severity: sev, Data: c.Resource,
	}
	n.pending.Add(1)
	select {
	case n.queue <- ev:
	default:
		n.pending.Done()
		n.m.notifyDrops.Inc()
		n.logDrop(subject, typ)
	}
}

// logDrop logs a notification dropped because the queue was full: the
// first at once, then at most a line a minute, counting the drops since
// the last line (a storm of drift must not become a storm of logs).
func (n *notifier) logDrop(subject string, typ pipeline.ChangeType) {
	n.mu.Lock()
	n.drops++
	now := time.Now()
	if !n.dropLogged.IsZero() && now.Sub(n.dropLogged) < time.Minute {
		n.mu.Unlock()
		return
	}
	count := n.drops
	n.drops, n.dropLogged = 0, now
	n.mu.Unlock()
	n.log.Warn("webhook queue full: notifications dropped", "dropped", count, "queue", cap(n.queue), "type", string(typ), "subject", subject)
}

// admit decides whether a change is posted, as what, with which
// severity, and remembers what was posted.
func (n *notifier) admit(subject string, c pipeline.Change) (pipeline.ChangeType, drift.Severity, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	last, posted := n.notified[subject]
	sev := c.Resource.Severity
	switch {
	case c.Type == pipeline.DriftResolved:
		delete(n.notified, subject)
		if sev == "" {
			sev = last
		}
		return c.Type, sev, posted || n.threshold == drift.SeverityInfo
	case passes(sev, n.threshold):
		n.notified[subject] = sev
		if !posted && n.threshold != drift.SeverityInfo {
			// It rose to the threshold: new to the receiver.
			return pipeline.DriftDetected, sev, true
		}
		return c.Type, sev, true
	case posted:
		// Below the threshold now: say so once.
		delete(n.notified, subject)
		return pipeline.DriftChanged, sev, true
	}
	return "", "", false
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case ev := <-n.queue:
			n.deliver(ctx, ev)
			n.pending.Done()
		case <-ctx.Done():
			for {
				select {
				case <-n.queue:
					n.pending.Done()
				default:
					return
				}
			}
		}
	}
}

func (n *notifier) deliver(ctx context.Context, ev cloudEvent) {
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	for _, u := range n.urls {
		wait := n.backoff
		var lastErr error
		for attempt := 1; attempt <= n.attempts; attempt++ {
			if lastErr = n.post(ctx, u, body); lastErr == nil {
				n.m.notified.WithLabelValues(ev.Type).Inc()
				break
			}
			if attempt == n.attempts {
				break
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait *= 2
		}
		if lastErr != nil {
			n.m.notifyErrors.Inc()
			n.log.Warn("webhook delivery failed", "url", u, "type", ev.Type, "subject", ev.Subject, "error", lastErr.Error())
		}
	}
}

func (n *notifier) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// Close delivers what is queued until the deadline, then stops; events
// still queued then are dropped.
func (n *notifier) Close(deadline time.Duration) {
	n.once.Do(func() {
		flushed := make(chan struct{})
		go func() {
			n.pending.Wait()
			close(flushed)
		}()
		select {
		case <-flushed:
		case <-time.After(deadline):
			n.log.Warn("webhook queue not flushed before the shutdown deadline", "left", len(n.queue))
		}
		n.stop()
		<-n.done
	})
}
