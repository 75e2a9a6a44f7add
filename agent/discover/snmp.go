package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"patchbay.dev/boards"
)

// Errors SNMPClient's callers branch on. Every error a call returns wraps
// at most one of them, besides the context's own error.
var (
	// ErrNoResponse: the agent did not answer in time. The address or port
	// may be wrong, the device down, or (SNMPv2c) the community wrong, since
	// an agent ignores a request with a community it does not know. Worth
	// a retry later.
	ErrNoResponse = errors.New("no response from SNMP agent")
	// ErrAuthentication: the agent rejected the SNMPv3 credentials (unknown
	// user, wrong passphrase or protocol) or does not let them read
	// (authorizationError, e.g. a security level below the user's).
	// Permanent until the configuration changes.
	ErrAuthentication = errors.New("SNMPv3 authentication failed")
	// ErrOIDNotIncreasing: during a walk the agent returned an OID that
	// does not follow the previous one, which would loop forever. The
	// variables read until then are returned with it. Permanent: a bug in
	// the device.
	ErrOIDNotIncreasing = errors.New("SNMP agent returned OIDs out of order")
	// ErrTooManyVars: a walk reached SNMPTarget.MaxVars. The variables read
	// until then are returned with it.
	ErrTooManyVars = errors.New("SNMP walk reached its variable limit")
)

// AgentError is an error-status the agent answered with (RFC 3416 §3),
// such as "tooBig" or "genErr". Index is the 1-based position of the
// variable it concerns, 0 for none.
type AgentError struct {
	Status string
	Index  int
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent answered %s (variable %d)", e.Status, e.Index)
}

// Unwrap makes an authorizationError an ErrAuthentication.
func (e *AgentError) Unwrap() error {
	if e.Status == "authorizationError" {
		return ErrAuthentication
	}
	return nil
}

const redacted = "[redacted]"

// Community is an SNMPv1/v2c community string. It prints, logs and
// marshals as "[redacted]"; string(c) is the secret.
type Community string

func (Community) String() string       { return redacted }
func (Community) GoString() string     { return redacted }
func (Community) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText redacts, so that a configuration dumped as JSON or YAML does
// not carry the secret.
func (Community) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText reads the secret from a configuration file.
func (c *Community) UnmarshalText(b []byte) error { *c = Community(b); return nil }

// Passphrase is an SNMPv3 authentication or privacy passphrase. It prints,
// logs and marshals as "[redacted]"; string(p) is the secret.
type Passphrase string

func (Passphrase) String() string       { return redacted }
func (Passphrase) GoString() string     { return redacted }
func (Passphrase) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText redacts, so that a configuration dumped as JSON or YAML does
// not carry the secret.
func (Passphrase) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText reads the secret from a configuration file.
func (p *Passphrase) UnmarshalText(b []byte) error { *p = Passphrase(b); return nil }

// AuthProtocol is an SNMPv3 authentication protocol, named as net-snmp's
// tools name it.
type AuthProtocol string

// The authentication protocols (RFC 3414, RFC 7860).
const (
	AuthMD5    AuthProtocol = "MD5"
	AuthSHA    AuthProtocol = "SHA"
	AuthSHA224 AuthProtocol = "SHA-224"
	AuthSHA256 AuthProtocol = "SHA-256"
	AuthSHA384 AuthProtocol = "SHA-384"
	AuthSHA512 AuthProtocol = "SHA-512"
)

var authProtocols = map[AuthProtocol]gosnmp.SnmpV3AuthProtocol{
	AuthMD5: gosnmp.MD5, AuthSHA: gosnmp.SHA, AuthSHA224: gosnmp.SHA224,
	AuthSHA256: gosnmp.SHA256, AuthSHA384: gosnmp.SHA384, AuthSHA512: gosnmp.SHA512,
}

// PrivProtocol is an SNMPv3 privacy (encryption) protocol, named as
// net-snmp's tools name it.
type PrivProtocol string

// The privacy protocols (RFC 3414, RFC 3826; the -C variants are Cisco's
// key extension).
const (
	PrivDES     PrivProtocol = "DES"
	PrivAES     PrivProtocol = "AES"
	PrivAES192  PrivProtocol = "AES-192"
	PrivAES256  PrivProtocol = "AES-256"
	PrivAES192C PrivProtocol = "AES-192-C"
	PrivAES256C PrivProtocol = "AES-256-C"
)

var privProtocols = map[PrivProtocol]gosnmp.SnmpV3PrivProtocol{
	PrivDES: gosnmp.DES, PrivAES: gosnmp.AES, PrivAES192: gosnmp.AES192,
	PrivAES256: gosnmp.AES256, PrivAES192C: gosnmp.AES192C, PrivAES256C: gosnmp.AES256C,
}

// SNMPv3 are a USM user's credentials. Without AuthProtocol the user is
// noAuthNoPriv, without PrivProtocol authNoPriv, else authPriv.
type SNMPv3 struct {
	User           string
	AuthProtocol   AuthProtocol
	AuthPassphrase Passphrase
	PrivProtocol   PrivProtocol
	PrivPassphrase Passphrase
}

// SNMPTarget is an agent to read and how.
type SNMPTarget struct {
	// Address is "host" or "host:port"; the port is 161 when omitted.
	Address string
	// Community selects SNMPv2c when V3 is nil.
	Community Community
	// V3 selects SNMPv3 with these credentials.
	V3 *SNMPv3
	// Retries is how many times an unanswered request is sent again
	// (0 to 10). The context's deadline is shared among the attempts.
	Retries int
	// MaxRepetitions is how many variables one GETBULK asks for; 0 means
	// defaultMaxRepetitions. Small devices may need fewer.
	MaxRepetitions uint32
	// MaxVars caps the variables one Walk returns; 0 means defaultMaxVars.
	MaxVars int
}

const (
	defaultPort           = 161
	defaultMaxRepetitions = 20
	defaultMaxVars        = 10_000
	maxRetries            = 10
	// oidsPerGet bounds the OIDs of one GET, so that small agents'
	// answers fit a datagram (a longer list is split).
	oidsPerGet = 16
	// attemptTimeout is how long one attempt waits without a context
	// deadline; minAttemptTimeout is the least an attempt gets when the
	// deadline is shared among many.
	attemptTimeout    = 3 * time.Second
	minAttemptTimeout = 50 * time.Millisecond
)

// LogValue describes the target without its secrets.
func (t SNMPTarget) LogValue() slog.Value {
	if t.V3 != nil {
		return slog.GroupValue(slog.String("address", t.Address), slog.String("version", "3"), slog.String("user", t.V3.User))
	}
	return slog.GroupValue(slog.String("address", t.Address), slog.String("version", "2c"))
}

// Validate returns every problem of the target, joined.
func (t SNMPTarget) Validate() error {
	var errs []error
	if _, _, err := splitAddress(t.Address); err != nil {
		errs = append(errs, err)
	}
	if t.Retries < 0 || t.Retries > maxRetries {
		errs = append(errs, fmt.Errorf("retries %d: want 0 to %d", t.Retries, maxRetries))
	}
	if t.MaxVars < 0 {
		errs = append(errs, fmt.Errorf("max vars %d: want 0 (the default, %d) or more", t.MaxVars, defaultMaxVars))
	}
	if t.MaxRepetitions > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("max repetitions %d: too large", t.MaxRepetitions))
	}
	v3 := t.V3
	switch {
	case v3 == nil && t.Community == "":
		errs = append(errs, errors.New("no credentials: set a community (SNMPv2c) or an SNMPv3 user"))
	case v3 == nil:
	case v3.User == "":
		errs = append(errs, errors.New("SNMPv3: user is empty"))
	}
	if v3 != nil {
		if v3.AuthProtocol != "" {
			if _, ok := authProtocols[v3.AuthProtocol]; !ok {
				errs = append(errs, fmt.Errorf("SNMPv3 auth protocol %q: want MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512", v3.AuthProtocol))
			}
			if len(v3.AuthPassphrase) < 8 {
				errs = append(errs, errors.New("SNMPv3 auth passphrase: want at least 8 characters (RFC 3414)"))
			}
		}
		if v3.PrivProtocol != "" {
			if _, ok := privProtocols[v3.PrivProtocol]; !ok {
				errs = append(errs, fmt.Errorf("SNMPv3 priv protocol %q: want DES, AES, AES-192, AES-256, AES-192-C or AES-256-C", v3.PrivProtocol))
			}
			if v3.AuthProtocol == "" {
				errs = append(errs, errors.New("SNMPv3 priv protocol without an auth protocol: privacy needs authentication"))
			}
			if len(v3.PrivPassphrase) < 8 {
				errs = append(errs, errors.New("SNMPv3 priv passphrase: want at least 8 characters (RFC 3414)"))
			}
		}
	}
	return errors.Join(errs...)
}

// splitAddress splits "host", "host:port", "[v6]:port" or a bare IPv6
// address.
func splitAddress(addr string) (string, uint16, error) {
	if addr == "" {
		return "", 0, errors.New("address is empty: want host or host:port")
	}
	if ip := net.ParseIP(addr); ip != nil {
		return addr, defaultPort, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return addr, defaultPort, nil
		}
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || host == "" {
		return "", 0, fmt.Errorf("address %q: want host:port with a port from 1 to 65535", addr)
	}
	return host, uint16(n), nil
}

// SNMPClient reads one agent's MIB. It implements boards.SNMPReader.
type SNMPClient struct {
	target SNMPTarget
	host   string
	port   uint16
	log    *slog.Logger
}

var _ boards.SNMPReader = (*SNMPClient)(nil)

// NewSNMPClient checks target and returns a client for it. It does no I/O.
// A nil log discards.
func NewSNMPClient(target SNMPTarget, log *slog.Logger) (*SNMPClient, error) {
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("snmp target %s: %w", target.Address, err)
	}
	host, port, _ := splitAddress(target.Address)
	if target.MaxRepetitions == 0 {
		target.MaxRepetitions = defaultMaxRepetitions
	}
	if target.MaxVars == 0 {
		target.MaxVars = defaultMaxVars
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SNMPClient{target: target, host: host, port: port, log: log.With("target", target)}, nil
}

// Get returns the variables that exist among oids (dotted, with or
// without a leading dot), keyed by OID without a leading dot. Absent OIDs
// are missing from the map.
func (c *SNMPClient) Get(ctx context.Context, oids []string) (map[string]boards.SNMPVar, error) {
	names := make([]string, len(oids))
	for i, o := range oids {
		arcs, err := parseOID(o)
		if err != nil {
			return nil, fmt.Errorf("snmp get %s: %w", c.target.Address, err)
		}
		names[i] = "." + formatOID(arcs)
	}
	out := make(map[string]boards.SNMPVar, len(oids))
	if len(names) == 0 {
		return out, nil
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, fmt.Errorf("snmp get %s: %w", c.target.Address, err)
	}
	defer s.close()
	for chunk := range slices.Chunk(names, oidsPerGet) {
		pkt, err := s.do(ctx, "get", func(g *gosnmp.GoSNMP) (*gosnmp.SnmpPacket, error) { return g.Get(chunk) })
		if err != nil {
			return nil, fmt.Errorf("snmp get %s: %w", c.target.Address, err)
		}
		for _, pdu := range pkt.Variables {
			if v, ok := c.snmpVar(pdu); ok {
				out[v.OID] = v
			}
		}
	}
	return out, nil
}

// Walk returns the variables under root in OID order, read with GETBULK.
// When nothing is under root, it returns root itself if that exists (as
// net-snmp's snmpwalk does), so a walk of a scalar instance works.
//
// A walk stops, returning what it read with ErrOIDNotIncreasing or
// ErrTooManyVars, when the agent answers an OID that does not follow the
// previous one or after SNMPTarget.MaxVars variables.
func (c *SNMPClient) Walk(ctx context.Context, root string) ([]boards.SNMPVar, error) {
	rootArcs, err := parseOID(root)
	if err != nil {
		return nil, fmt.Errorf("snmp walk %s: %w", c.target.Address, err)
	}
	errorf := func(format string, args ...any) error {
		return fmt.Errorf("snmp walk %s %s: "+format, append([]any{c.target.Address, formatOID(rootArcs)}, args...)...)
	}
	s, err := c.session(ctx)
	if err != nil {
		return nil, errorf("%w", err)
	}
	defer s.close()

	var out []boards.SNMPVar
	last, seen := rootArcs, 0
	for {
		from := "." + formatOID(last)
		pkt, err := s.do(ctx, "getbulk", func(g *gosnmp.GoSNMP) (*gosnmp.SnmpPacket, error) {
			return g.GetBulk([]string{from}, 0, c.target.MaxRepetitions)
		})
		if err != nil {
			return out, errorf("%w", err)
		}
		if len(pkt.Variables) == 0 {
			break // nothing more; a well-behaved agent says endOfMibView
		}
		done := false
		for _, pdu := range pkt.Variables {
			if pdu.Type == gosnmp.EndOfMibView || pdu.Type == gosnmp.NoSuchObject || pdu.Type == gosnmp.NoSuchInstance {
				done = true
				break
			}
			arcs, err := parseOID(pdu.Name)
			if err != nil {
				return out, errorf("agent returned a malformed OID: %w", err)
			}
			if !hasPrefix(arcs, rootArcs) {
				done = true
				break
			}
			if slices.Compare(arcs, last) <= 0 {
				return out, errorf("%s after %s: %w", formatOID(arcs), formatOID(last), ErrOIDNotIncreasing)
			}
			last = arcs
			if seen++; seen > c.target.MaxVars {
				return out, errorf("%d variables: %w", c.target.MaxVars, ErrTooManyVars)
			}
			if v, ok := c.snmpVar(pdu); ok {
				out = append(out, v)
			}
		}
		if done {
			break
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	pkt, err := s.do(ctx, "get", func(g *gosnmp.GoSNMP) (*gosnmp.SnmpPacket, error) {
		return g.Get([]string{"." + formatOID(rootArcs)})
	})
	if err != nil {
		return nil, errorf("%w", err)
	}
	for _, pdu := range pkt.Variables {
		if v, ok := c.snmpVar(pdu); ok && v.OID == formatOID(rootArcs) {
			out = append(out, v)
		}
	}
	return out, nil
}

// session is one call's gosnmp session: gosnmp keeps a context in its
// struct, so a session lives no longer than the call whose context it has.
type session struct {
	g        *gosnmp.GoSNMP
	c        *SNMPClient
	attempt  int         // of the current request, from 1
	received int         // datagrams the agent sent for the current request
	stop     func() bool // stops the context watcher
}

func (c *SNMPClient) session(ctx context.Context) (*session, error) {
	t := c.target
	g := &gosnmp.GoSNMP{
		Target:    c.host,
		Port:      c.port,
		Transport: "udp",
		Version:   gosnmp.Version2c,
		Community: string(t.Community),
		Retries:   t.Retries,
		Timeout:   attemptTimeout,
		MaxOids:   gosnmp.MaxOids,
		Context:   ctx,
	}
	if v3 := t.V3; v3 != nil {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		usm := &gosnmp.UsmSecurityParameters{UserName: v3.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
		g.MsgFlags = gosnmp.NoAuthNoPriv
		if v3.AuthProtocol != "" {
			g.MsgFlags = gosnmp.AuthNoPriv
			usm.AuthenticationProtocol = authProtocols[v3.AuthProtocol]
			usm.AuthenticationPassphrase = string(v3.AuthPassphrase)
		}
		if v3.PrivProtocol != "" {
			g.MsgFlags = gosnmp.AuthPriv
			usm.PrivacyProtocol = privProtocols[v3.PrivProtocol]
			usm.PrivacyPassphrase = string(v3.PrivPassphrase)
		}
		g.SecurityParameters = usm
	}
	s := &session{g: g, c: c}
	// gosnmp also calls OnRetry after its last attempt, and after an
	// SNMPv3 engine discovery, which is no failure.
	g.OnRetry = func(*gosnmp.GoSNMP) {
		s.attempt++
		if s.attempt <= t.Retries+1 && s.received == 0 {
			c.log.Warn("snmp request unanswered, sending again", "attempt", s.attempt, "max_attempts", t.Retries+1)
		}
	}
	g.OnRecv = func(*gosnmp.GoSNMP) { s.received++ }
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// gosnmp watches the deadline but not a cancellation while it waits
	// for an answer; ending the wait makes it look at the context.
	s.stop = context.AfterFunc(ctx, func() { _ = g.Conn.SetDeadline(time.Now()) })
	return s, nil
}

func (s *session) close() {
	s.stop()
	_ = s.g.Conn.Close()
	s.g.Context = nil
}

// do runs one request, sharing what is left of the context's deadline
// among its attempts, and classifies its failure.
func (s *session) do(ctx context.Context, op string, req func(*gosnmp.GoSNMP) (*gosnmp.SnmpPacket, error)) (*gosnmp.SnmpPacket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.g.Timeout = attemptTimeout
	if deadline, ok := ctx.Deadline(); ok {
		share := time.Until(deadline) / time.Duration(s.g.Retries+1)
		s.g.Timeout = max(min(share, attemptTimeout), minAttemptTimeout)
	}
	s.attempt, s.received = 1, 0
	s.c.log.Debug("snmp request", "pdu", op)
	pkt, err := req(s.g)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	if pkt.Error != gosnmp.NoError {
		return nil, &AgentError{Status: snmpErrorName(pkt.Error), Index: int(pkt.ErrorIndex)}
	}
	return pkt, nil
}

// classify maps gosnmp's errors to ours.
func (s *session) classify(ctx context.Context, err error) error {
	var netErr net.Error
	timeout := errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || errors.As(err, &netErr) && netErr.Timeout()
	attempts := s.g.Retries + 1
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w before the deadline (%s): %w", ErrNoResponse, s.hint(), ctx.Err())
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		// gosnmp's own report of the deadline cutting an attempt short.
		return fmt.Errorf("%w before the deadline (%s): %w", ErrNoResponse, s.hint(), err)
	case timeout:
		return fmt.Errorf("%w after %d attempts of %v (%s)", ErrNoResponse, attempts, s.g.Timeout, s.hint())
	case s.c.target.V3 == nil:
		return err
	case errors.Is(err, gosnmp.ErrUnknownUsername),
		errors.Is(err, gosnmp.ErrWrongDigest),
		errors.Is(err, gosnmp.ErrDecryption),
		errors.Is(err, gosnmp.ErrUnknownSecurityLevel),
		errors.Is(err, gosnmp.ErrUnknownSecurityModels),
		// The agent reports a wrong user or passphrase without
		// authentication, which gosnmp then discards as not authentic
		// with an error of no type of its own: the agent answered, but
		// nothing it said was authentic for these credentials.
		s.received > 0:
		return fmt.Errorf("%w for user %q (%v): check the user, protocols and passphrases", ErrAuthentication, s.c.target.V3.User, err)
	default:
		return err
	}
}

// hint says what to check when an agent does not answer.
func (s *session) hint() string {
	if s.c.target.V3 == nil {
		return "check the address, the port and the community: agents ignore a wrong community"
	}
	return "check the address and the port"
}

// snmpVar renders a variable as boards.SNMPVar text; ok is false for the
// exceptions (noSuchObject, noSuchInstance, endOfMibView) and for values
// boards has no type for (Opaque floats, BIT STRING, NsapAddress).
func (c *SNMPClient) snmpVar(pdu gosnmp.SnmpPDU) (v boards.SNMPVar, ok bool) {
	v.OID = strings.TrimPrefix(pdu.Name, ".")
	switch pdu.Type {
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		return v, false
	case gosnmp.OctetString, gosnmp.Opaque:
		b, isBytes := pdu.Value.([]byte)
		v.Type, v.Value, ok = boards.SNMPTypeOctets, string(b), isBytes
		if pdu.Type == gosnmp.Opaque {
			v.Type = boards.SNMPTypeOpaque
		}
	case gosnmp.ObjectIdentifier:
		s, isString := pdu.Value.(string)
		v.Type, v.Value, ok = boards.SNMPTypeOID, strings.TrimPrefix(s, "."), isString
	case gosnmp.IPAddress:
		s, isString := pdu.Value.(string)
		v.Type, v.Value, ok = boards.SNMPTypeIPAddress, s, isString
	case gosnmp.Null:
		v.Type, ok = boards.SNMPTypeNull, true
	case gosnmp.Integer:
		v.Type, v.Value, ok = boards.SNMPTypeInt, gosnmp.ToBigInt(pdu.Value).String(), true
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.Uinteger32:
		v.Type, v.Value, ok = boards.SNMPTypeUint, gosnmp.ToBigInt(pdu.Value).String(), true
	case gosnmp.Counter64:
		v.Type, v.Value, ok = boards.SNMPTypeCounter64, gosnmp.ToBigInt(pdu.Value).String(), true
	case gosnmp.TimeTicks:
		v.Type, v.Value, ok = boards.SNMPTypeTimeTicks, gosnmp.ToBigInt(pdu.Value).String(), true
	}
	if !ok {
		c.log.Debug("snmp variable skipped", "oid", v.OID, "asn1_type", pdu.Type.String())
	}
	return v, ok
}

// snmpErrorName is the RFC 3416 name of an error-status.
func snmpErrorName(e gosnmp.SNMPError) string {
	name := e.String() // "TooBig", "GenErr", …
	if name == "" || strings.HasPrefix(name, "SNMPError(") {
		return "error-status " + strconv.Itoa(int(e))
	}
	return strings.ToLower(name[:1]) + name[1:]
}

// parseOID parses a dotted OID with or without a leading dot.
func parseOID(s string) ([]uint32, error) {
	t := strings.TrimPrefix(s, ".")
	if t == "" {
		return nil, fmt.Errorf("OID %q is empty", s)
	}
	parts := strings.Split(t, ".")
	arcs := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: arc %d is not a number from 0 to %d", s, i+1, uint32(math.MaxUint32))
		}
		arcs[i] = uint32(n)
	}
	return arcs, nil
}

// formatOID renders arcs dotted, without a leading dot.
func formatOID(arcs []uint32) string {
	var b strings.Builder
	for i, n := range arcs {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// hasPrefix reports whether oid lies in the subtree root, root excluded.
func hasPrefix(oid, root []uint32) bool {
	return len(oid) > len(root) && slices.Equal(oid[:len(root)], root)
}
