package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Auth holds Git credentials. The command line reads secrets from
// environment variables or files, never from flag values (which show in ps).
// The zero value means anonymous HTTPS and, for SSH, the ssh-agent with the
// user's known_hosts.
type Auth struct {
	// Username for HTTPS basic auth; empty means "git" when a Password is set.
	Username string
	// Password is the HTTPS password or token.
	Password string

	// SSHKeyFile is a private key file for SSH URLs; empty means ssh-agent.
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile; empty for unencrypted keys.
	SSHKeyPassphrase string
	// KnownHostsFiles verify the server's host key; empty means
	// $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts.
	KnownHostsFiles []string
	// InsecureIgnoreHostKey turns host key verification off. Never the default.
	InsecureIgnoreHostKey bool
}

// MethodFor returns the go-git auth method for a repository URL, or nil
// for anonymous: for callers that talk to a remote themselves (adopt
// --push).
func (a Auth) MethodFor(url string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL: %w", err)
	}
	return a.method(ep)
}

// method returns the go-git auth method for endpoint, or nil for anonymous.
func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		if a.Password == "" && a.Username == "" {
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &http.BasicAuth{Username: user, Password: a.Password}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		var (
			pk  *gitssh.PublicKeys
			agt *gitssh.PublicKeysCallback
			err error
		)
		if a.SSHKeyFile != "" {
			pk, err = gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
			if err != nil {
				return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
			}
		} else {
			agt, err = gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh: no key file given and no ssh-agent: %w", err)
			}
		}
		cb, err := a.hostKeyCallback()
		if err != nil {
			return nil, err
		}
		if pk != nil {
			pk.HostKeyCallback = cb
			return pk, nil
		}
		agt.HostKeyCallback = cb
		return agt, nil
	}
	return nil, nil
}

func (a Auth) hostKeyCallback() (ssh.HostKeyCallback, error) {
	if a.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil //nolint:gosec // explicit user opt-out
	}
	files := a.KnownHostsFiles
	if len(files) == 0 {
		if env := os.Getenv("SSH_KNOWN_HOSTS"); env != "" {
			files = []string{env}
		} else if home, err := os.UserHomeDir(); err == nil {
			files = []string{home + "/.ssh/known_hosts"}
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("known_hosts file %s: %w (host key verification needs it)", f, errors.Unwrap(err))
		}
	}
	cb, err := gitssh.NewKnownHostsCallback(files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return cb, nil
}

// redactURL removes any password from a URL so it can be shown and stored.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
