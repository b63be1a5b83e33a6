package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testCA writes a CA and a server certificate for 127.0.0.1 into dir and
// returns the CA pool and the cert and key files.
func testCA(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "driftwatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "driftwatch"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, certFile, keyFile
}

func TestWatchTLS(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	pool, cert, key := testCA(t, t.TempDir())
	d := startWatch(t, "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app", "-n", ns,
		"--tls-cert-file", cert, "--tls-key-file", key)
	url := strings.Replace(d.url, "http://", "https://", 1)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	eventually(t, "HTTPS report", d, func() bool {
		resp, err := client.Get(url + "/api/v1/report")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// Without the CA the certificate is not trusted; plain HTTP is refused.
	if _, err := http.Get(url + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate accepted: %v", err)
	}
	if resp, err := http.Get(d.url + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Error("plain HTTP served next to TLS")
	}
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// driftwatchBinary builds the real binary once per test run.
func driftwatchBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "driftwatch-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "driftwatch")
		cmd := exec.Command("go", "build", "-o", binaryPath, ".")
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = err
			binaryPath = string(out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("build: %v %s", binaryErr, binaryPath)
	}
	return binaryPath
}

// binaryDaemon is the real driftwatch binary running watch.
type binaryDaemon struct {
	cmd    *exec.Cmd
	addr   string
	done   chan error
	stderr *syncBuffer
}

// startBinaryWatch starts `driftwatch watch args...` on a free loopback port.
func startBinaryWatch(t *testing.T, args ...string) *binaryDaemon {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	b := &binaryDaemon{addr: ln.Addr().String(), done: make(chan error, 1), stderr: &syncBuffer{}}
	ln.Close()
	b.cmd = exec.Command(driftwatchBinary(t), append([]string{"watch", "--listen", b.addr, "--kubeconfig", kubeconfig}, args...)...)
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.cmd.Process.Kill() })
	return b
}

func (b *binaryDaemon) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + b.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", b.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// terminate sends SIGTERM and waits up to limit for a clean exit.
func (b *binaryDaemon) terminate(t *testing.T, limit time.Duration) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, b.stderr.String())
		}
	case <-time.After(limit):
		t.Fatalf("no exit within %s of SIGTERM\n%s", limit, b.stderr.String())
	}
	if !strings.Contains(b.stderr.String(), "shutting down") {
		t.Errorf("logs: %s", b.stderr.String())
	}
}

// SIGTERM stops the real daemon gracefully: exit 0 within the shutdown
// deadline, HTTP closed.
func TestWatchSIGTERM(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	b := startBinaryWatch(t, "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
		"-n", ns, "--shutdown-timeout", "5s", "--webhook", "http://127.0.0.1:1/unreachable")
	b.waitReady(t)
	b.terminate(t, 30*time.Second)
	if _, err := http.Get("http://" + b.addr + "/healthz"); err == nil {
		t.Error("HTTP still served after exit")
	}
}

// SIGTERM while the daemon is still syncing (informers listing, the first
// comparison running) stops it cleanly, as it does later on.
func TestWatchSIGTERMDuringSync(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	midSync := 0
	for _, delay := range []time.Duration{0, 0, 50 * time.Millisecond, 200 * time.Millisecond} {
		b := startBinaryWatch(t, "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
			"-n", ns, "--shutdown-timeout", "5s")
		// "watching" is logged once the monitor runs and HTTP serves.
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(b.stderr.String(), "watching") {
			if time.Now().After(deadline) {
				t.Fatalf("never started: %s", b.stderr.String())
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(delay)
		if resp, err := http.Get("http://" + b.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				midSync++
			}
		}
		b.terminate(t, 30*time.Second)
	}
	t.Logf("%d of 4 signals arrived before the first comparison finished", midSync)
	if midSync == 0 {
		t.Error("no SIGTERM arrived during the sync; the test did not test it")
	}
}

// SIGTERM while a webhook delivery is being retried: the retries (about
// 15 s of backoff in all) are cut at --shutdown-timeout, and the daemon
// exits 0 saying what it dropped.
func TestWatchSIGTERMDuringWebhookRetry(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	var attempts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	if err := kube.Edit(context.Background(), "kubectl-edit", gvkDeployment, ns, "web", setReplicas(5)); err != nil {
		t.Fatal(err)
	}
	b := startBinaryWatch(t, "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
		"-n", ns, "--shutdown-timeout", "2s", "--webhook", hook.URL)
	b.waitReady(t)
	deadline := time.Now().Add(30 * time.Second)
	for attempts.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("webhook never retried: %s", b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	b.terminate(t, 30*time.Second)
	// The remaining backoff is over 10 s; an exit well before it means the
	// retries were cut (the bound is loose on purpose: a loaded machine).
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("exit took %s with --shutdown-timeout 2s: the retries were waited out", took)
	}
	if !strings.Contains(b.stderr.String(), "not flushed before the shutdown deadline") {
		t.Errorf("logs do not say the queue was cut: %s", b.stderr.String())
	}
}

// A check interrupted at any moment leaves either no report file or a
// complete one, never half of it.
func TestCheckInterruptedLeavesNoPartialReport(t *testing.T) {
	requireAPIServer(t)
	ns := newNamespace(t)
	out := t.TempDir()
	report := filepath.Join(out, "report.json")
	for i, delay := range []time.Duration{0, 20 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond, 600 * time.Millisecond} {
		os.Remove(report)
		cmd := exec.Command(driftwatchBinary(t), "check", "--dir", filepath.Join("..", "..", "testdata", "check"), "--path", "app",
			"--kubeconfig", kubeconfig, "-n", ns, "-o", "json="+report)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		b, err := os.ReadFile(report)
		if err == nil {
			var v map[string]any
			if jerr := json.Unmarshal(b, &v); jerr != nil {
				t.Errorf("run %d: partial report (%d bytes): %v", i, len(b), jerr)
			}
		}
		entries, _ := os.ReadDir(out)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("run %d: temporary file left: %s", i, e.Name())
			}
		}
	}
}
