package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"patchbay.dev/gateway/pki"
	"patchbay.dev/tools/command"
)

// pkiFlags are the flags every pki command has.
type pkiFlags struct {
	dir    string
	asJSON bool
}

func (f *pkiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "dir", "pki", "directory of the CA and what it issued")
	fs.BoolVar(&f.asJSON, "json", false, "print the files written as JSON")
}

// written is what a pki command reports.
type written struct {
	Identity string    `json:"identity,omitempty"`
	Cert     string    `json:"cert,omitempty"`
	Key      string    `json:"key,omitempty"`
	File     string    `json:"file,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
}

func (f *pkiFlags) report(w io.Writer, out written) error {
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	var err error
	switch {
	case out.File != "":
		_, err = fmt.Fprintf(w, "wrote %s\n", out.File)
	default:
		_, err = fmt.Fprintf(w, "wrote %s and %s (%s, valid until %s)\n", out.Cert, out.Key, out.Identity, out.NotAfter.Format(time.DateOnly))
	}
	return err
}

func pkiCommand() *command.Command {
	return &command.Command{
		Name:  "pki",
		Short: "make the device CA, broker and client certificates, and the mosquitto ACL",
		Long: `
Keeps a small certificate authority for the MQTT side in a directory (--dir):
ca.crt/ca.key (the device CA, ECDSA P-256), server.crt/server.key (the
broker's), devices/{tenant}/{device}.crt/.key, services/{name}.crt/.key (a
gateway's client certificate for an external broker) and mosquitto.acl.
Keys are written with mode 0600; no command replaces a certificate or key.

A device certificate's Common Name is "{tenant}/{device}"; a service's is its
name. The embedded broker and the ACL file confine each device to
pb/v1/{tenant}/{device}/... with it.`,
		Subcommands: []*command.Command{pkiInit(), pkiServer(), pkiDevice(), pkiService(), pkiACL()},
	}
}

func pkiInit() *command.Command {
	var f pkiFlags
	var name string
	return &command.Command{
		Name:  "init",
		Short: "create the device CA",
		Flags: func(fs *flag.FlagSet) {
			f.register(fs)
			fs.StringVar(&name, "name", "Patchbay device CA", "the CA's Common Name")
		},
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " pki init", Problem: "takes no arguments"}
			}
			ca, err := pki.NewCA(name, pki.Options{})
			if err != nil {
				return err
			}
			dir := pki.Dir(f.dir)
			cert, key := dir.CA()
			if err := pki.WriteKeyPair(cert, key, &ca.KeyPair); err != nil {
				return err
			}
			return f.report(stdio.Stdout, written{Identity: "CA " + name, Cert: cert, Key: key, NotAfter: ca.Cert.NotAfter})
		},
	}
}

func pkiServer() *command.Command {
	var f pkiFlags
	return &command.Command{
		Name:  "server",
		Args:  "[NAME…]",
		Short: "issue the broker's certificate for localhost, 127.0.0.1, ::1 and NAMEs",
		Flags: f.register,
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			dir := pki.Dir(f.dir)
			ca, err := pki.LoadCA(dir.CA())
			if err != nil {
				return err
			}
			kp, err := ca.IssueServer(args, pki.Options{})
			if err != nil {
				return err
			}
			cert, key := dir.Server()
			if err := pki.WriteKeyPair(cert, key, kp); err != nil {
				return err
			}
			names := slices.Clone(kp.Cert.DNSNames)
			for _, ip := range kp.Cert.IPAddresses {
				names = append(names, ip.String())
			}
			return f.report(stdio.Stdout, written{Identity: "server " + strings.Join(names, ", "), Cert: cert, Key: key, NotAfter: kp.Cert.NotAfter})
		},
	}
}

func pkiDevice() *command.Command {
	var f pkiFlags
	return &command.Command{
		Name:  "device",
		Args:  "TENANT DEVICE",
		Short: "issue a device's key and certificate",
		Flags: f.register,
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) != 2 {
				return &command.UsageError{Command: binary + " pki device", Problem: "wants a tenant and a device ID"}
			}
			id, err := pki.DeviceIdentity(args[0], args[1])
			if err != nil {
				return err
			}
			return issueClient(stdio.Stdout, &f, id)
		},
	}
}

func pkiService() *command.Command {
	var f pkiFlags
	return &command.Command{
		Name:  "service",
		Args:  "NAME",
		Short: "issue a gateway's client certificate for an external broker (NAME: patchbay-gateway)",
		Flags: f.register,
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) != 1 {
				return &command.UsageError{Command: binary + " pki service", Problem: "wants a service name, e.g. " + pki.DefaultService}
			}
			id, err := pki.ServiceIdentity(args[0])
			if err != nil {
				return err
			}
			return issueClient(stdio.Stdout, &f, id)
		},
	}
}

func issueClient(w io.Writer, f *pkiFlags, id pki.Identity) error {
	dir := pki.Dir(f.dir)
	ca, err := pki.LoadCA(dir.CA())
	if err != nil {
		return err
	}
	kp, err := ca.IssueClient(id, pki.Options{})
	if err != nil {
		return err
	}
	cert, key := dir.Client(id)
	if err := pki.WriteKeyPair(cert, key, kp); err != nil {
		return err
	}
	return f.report(w, written{Identity: id.String(), Cert: cert, Key: key, NotAfter: kp.Cert.NotAfter})
}

func pkiACL() *command.Command {
	var f pkiFlags
	var out string
	return &command.Command{
		Name:  "acl",
		Args:  "[SERVICE…]",
		Short: "write the mosquitto ACL file: devices get their own topics, SERVICEs (patchbay-gateway) all",
		Long: `
Writes an acl_file for mosquitto that confines each device to its own topics
and gives the named services (default patchbay-gateway) every device's. The
TLS listener in mosquitto.conf needs:

` + pki.MosquittoConf,
		Flags: func(fs *flag.FlagSet) {
			f.register(fs)
			fs.StringVar(&out, "out", "", "file to write, - for standard output (default DIR/mosquitto.acl)")
		},
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			acl, err := pki.MosquittoACL(args)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := stdio.Stdout.Write(acl)
				return err
			}
			if out == "" {
				out = pki.Dir(f.dir).ACL()
			}
			if err := pki.ReplaceFile(out, acl, 0o644); err != nil {
				return err
			}
			return f.report(stdio.Stdout, written{File: out})
		},
	}
}
