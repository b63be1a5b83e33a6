package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves the same bare repositories as a Server over SSH: it
// accepts one client key and runs git-upload-pack for exec requests, as a
// Git host does.
type SSHServer struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey

	root string
	ln   net.Listener
	wg   sync.WaitGroup
}

// GenerateKey returns a new ed25519 key pair: the private key in OpenSSH PEM
// form (for a key file) and the public key.
func GenerateKey() ([]byte, ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), sp, nil
}

// StartSSH serves the repositories of s over SSH on 127.0.0.1, accepting
// only clientKey.
func (s *Server) StartSSH(clientKey ssh.PublicKey) (*SSHServer, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if string(k.Marshal()) == string(clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &SSHServer{Addr: ln.Addr().String(), HostKey: signer.PublicKey(), root: filepath.Join(s.root, "srv"), ln: ln}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.wg.Add(1)
			go func() {
				defer srv.wg.Done()
				srv.serve(c, cfg)
			}()
		}
	}()
	return srv, nil
}

// URL is the ssh:// clone URL of the named repository.
func (s *SSHServer) URL(name string) string {
	return "ssh://git@" + s.Addr + "/" + name + ".git"
}

// KnownHostsLine is a known_hosts line for the server's host key.
func (s *SSHServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
}

// Close stops accepting connections and waits for open ones to end.
func (s *SSHServer) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *SSHServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, chReqs)
	}
}

// session handles exec "git-upload-pack '/name.git'" on one channel.
func (s *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		command := string(req.Payload[4 : 4+n])
		svc, arg, _ := strings.Cut(command, " ")
		repo := filepath.Join(s.root, filepath.Clean("/"+strings.Trim(arg, "'\"")))
		if svc != "git-upload-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		status := uint32(0)
		if _, err := os.Stat(repo); err != nil {
			fmt.Fprintf(ch.Stderr(), "fatal: '%s' does not appear to be a git repository\n", arg)
			status = 128
		} else {
			cmd := exec.Command("git", "upload-pack", repo)
			cmd.Stdout, cmd.Stderr = ch, io.Discard
			// Not cmd.Stdin = ch: Wait would then wait for the client to
			// close its side, which it only does after the exit status.
			stdin, err := cmd.StdinPipe()
			if err == nil {
				err = cmd.Start()
			}
			if err == nil {
				go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
				err = cmd.Wait()
			}
			if err != nil {
				status = 1
			}
		}
		_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}
