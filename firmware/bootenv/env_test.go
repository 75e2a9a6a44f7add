package bootenv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"testing"
)

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

// pad returns b followed by NULs up to n bytes.
func pad(n int, b ...[]byte) []byte {
	out := bytes.Join(b, nil)
	return append(out, make([]byte, n-len(out))...)
}

// copyTests are stored copies and the environment each holds, shared by
// the encoder and the decoder tests. The CRCs were computed independently
// (Python's zlib.crc32) and match what fw_setenv writes.
var copyTests = []struct {
	name   string
	env    map[string]string
	layout layout
	flag   byte
	raw    []byte
}{
	{
		name:   "single little-endian",
		env:    map[string]string{"a": "1", "b": "2"},
		layout: layout{size: 16, order: le},
		raw: pad(16,
			[]byte{0xe7, 0xcc, 0x25, 0xbe}, // crc32 of the 12 data bytes, little-endian
			[]byte("a=1\x00b=2\x00"),       // entries, sorted, NUL-terminated
			[]byte{0},                      // terminating empty entry; NUL padding follows
		),
	},
	{
		name:   "redundant with flag",
		env:    map[string]string{"a": "1", "b": "2"},
		layout: layout{size: 16, redundant: true, order: le},
		flag:   7,
		raw: pad(16,
			[]byte{0x54, 0x87, 0xb6, 0x21}, // crc32 of the 11 data bytes after the flag
			[]byte{7},                      // flag
			[]byte("a=1\x00b=2\x00\x00"),
		),
	},
	{
		name:   "single big-endian (mkenvimage -b, MIPS U-Boot)",
		env:    map[string]string{"a": "1", "b": "2"},
		layout: layout{size: 16, order: be},
		raw: pad(16,
			[]byte{0xbe, 0x25, 0xcc, 0xe7}, // the same crc32, big-endian
			[]byte("a=1\x00b=2\x00\x00"),
		),
	},
	{
		name:   "empty",
		env:    map[string]string{},
		layout: layout{size: 8, order: le},
		raw:    []byte{0x1c, 0xdf, 0x44, 0x21, 0, 0, 0, 0},
	},
	{
		name:   "exactly full",
		env:    map[string]string{"bootcount": "3"},
		layout: layout{size: 17, order: le},
		raw:    pad(17, []byte{0x98, 0x3e, 0x26, 0xcf}, []byte("bootcount=3\x00\x00")),
	},
	{
		name:   "sorted bytewise, .flags first, flag 0xff",
		env:    map[string]string{"bootcmd": "run x", "a": "2", "B": "1", ".flags": "x:so"},
		layout: layout{size: 48, redundant: true, order: le},
		flag:   0xff,
		raw: pad(48,
			[]byte{0x77, 0xe2, 0x93, 0x08, 0xff},
			[]byte(".flags=x:so\x00B=1\x00a=2\x00bootcmd=run x\x00\x00"),
		),
	},
}

func TestEncodeCopy(t *testing.T) {
	for _, tt := range copyTests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := NewEnv(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeCopy(env, tt.flag, tt.layout)
			if err != nil {
				t.Fatalf("encodeCopy = %v", err)
			}
			if !bytes.Equal(got, tt.raw) {
				t.Errorf("encodeCopy =\n% x\nwant\n% x", got, tt.raw)
			}
		})
	}
}

func TestDecodeCopy(t *testing.T) {
	for _, tt := range copyTests {
		t.Run(tt.name, func(t *testing.T) {
			env, flag, err := decodeCopy(tt.raw, tt.layout)
			if err != nil {
				t.Fatalf("decodeCopy = %v", err)
			}
			if !maps.Equal(env.Map(), tt.env) || flag != tt.flag {
				t.Errorf("decodeCopy = %v, flag %d, want %v, flag %d", env.Map(), flag, tt.env, tt.flag)
			}
		})
	}
}

func TestEncodeTooLarge(t *testing.T) {
	env, _ := NewEnv(map[string]string{"bootcount": "10"}) // 13 bytes + terminator
	if _, err := encodeCopy(env, 0, layout{size: 17, order: le}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("encodeCopy of 14 bytes into 13 = %v, want ErrNoSpace", err)
	}
}

// decodeTests are data areas as libubootenv's fw_printenv reads them
// (checked by hand against fw_printenv 0.3.2).
var decodeTests = []struct {
	name string
	data []byte
	want map[string]string // nil: corrupt
}{
	{"entry without = is skipped", pad(32, []byte("a=1\x00noeq\x00b=2\x00\x00")), map[string]string{"a": "1", "b": "2"}},
	{"last duplicate wins", pad(32, []byte("a=1\x00a=2\x00\x00")), map[string]string{"a": "2"}},
	{"stops at the empty entry", pad(32, []byte("a=1\x00\x00b=2\x00\x00")), map[string]string{"a": "1"}},
	{"value with = and spaces", pad(32, []byte("cmd=a=b c\x00\x00")), map[string]string{"cmd": "a=b c"}},
	{"empty value", pad(32, []byte("empty=\x00\x00")), map[string]string{"empty": ""}},
	{"empty name kept", pad(32, []byte("=x\x00b=2\x00\x00")), map[string]string{"": "x", "b": "2"}},
	{"0xff padding after the end", append([]byte("a=1\x00\x00"), bytes.Repeat([]byte{0xff}, 20)...), map[string]string{"a": "1"}},
	{"leading NUL is an empty environment", append([]byte{0}, bytes.Repeat([]byte{0xff}, 20)...), map[string]string{}},
	{"no terminating empty entry", append([]byte("a=1\x00b=2\x00"), bytes.Repeat([]byte{0xff}, 20)...), nil},
	{"entry runs to the end", []byte("a=1\x00b=xxxxxxx"), nil},
	{"last entry ends at the end", []byte("a=1\x00b=xxxxxx\x00"), nil},
	{"zero-length data", []byte{}, nil},
}

func TestDecodeData(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := decodeData(tt.data)
			if tt.want == nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("decodeData = %v, %v, want ErrCorrupt", env.Map(), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeData = %v", err)
			}
			if !maps.Equal(env.Map(), tt.want) {
				t.Errorf("decodeData = %v, want %v", env.Map(), tt.want)
			}
		})
	}
}

func TestDecodeCopyErrors(t *testing.T) {
	good := copyTests[1]
	flipped := bytes.Clone(good.raw)
	flipped[10] ^= 0x01
	_, _, err := decodeCopy(flipped, good.layout)
	ce, ok := errors.AsType[*CRCError](err)
	if !ok || ce.Erased || ce.Stored != 0x21b68754 {
		t.Fatalf("decodeCopy with a flipped bit = %v, want a *CRCError with Stored 0x21b68754", err)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Error("CRCError is not ErrCorrupt")
	}
	_, _, err = decodeCopy(bytes.Repeat([]byte{0xff}, 16), good.layout)
	if ce, ok := errors.AsType[*CRCError](err); !ok || !ce.Erased {
		t.Errorf("decodeCopy of erased flash = %v, want *CRCError{Erased: true}", err)
	}
	if _, _, err := decodeCopy(good.raw[:15], good.layout); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodeCopy of a short copy = %v, want ErrCorrupt", err)
	}
}

func TestEnvSetChecks(t *testing.T) {
	tests := []struct {
		name, key, value string
		ok               bool
	}{
		{"plain", "bootcount", "0", true},
		{"empty value", "x", "", true},
		{"spaces and symbols", "my var#1", "a=b;c", true},
		{"empty name", "", "1", false},
		{"= in name", "a=b", "1", false},
		{"NUL in name", "a\x00", "1", false},
		{"NUL in value", "a", "1\x002", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Env
			err := e.Set(tt.key, tt.value)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidName)) {
				t.Errorf("Set(%q, %q) = %v, want ok %v", tt.key, tt.value, err, tt.ok)
			}
		})
	}
}

func TestChangesApply(t *testing.T) {
	base, _ := NewEnv(map[string]string{
		"bootcount": "2", "upgrade_available": "1", "ethaddr": "00:11:22:33:44:55", "serial#": "X1",
		".flags": "ethaddr:mo,serial#:sr, bogus ,bootcount:dc",
	})
	tests := []struct {
		name    string
		changes Changes
		want    map[string]string // changed variables; nil value: deleted
		err     error
	}{
		{"commit", Changes{"bootcount": new("0"), "upgrade_available": new("0")}, map[string]string{"bootcount": "0", "upgrade_available": "0"}, nil},
		{"delete", Changes{"upgrade_available": nil}, map[string]string{}, nil},
		{"delete unset", Changes{"nothere": nil}, map[string]string{}, nil},
		{"write-once overwritten", Changes{"ethaddr": new("00:00:00:00:00:01")}, nil, ErrReadOnly},
		{"write-once unchanged", Changes{"ethaddr": new("00:11:22:33:44:55")}, map[string]string{}, nil},
		{"read-only deleted", Changes{"serial#": nil}, nil, ErrReadOnly},
		{"change-default is writable", Changes{"bootcount": new("1")}, map[string]string{"bootcount": "1"}, nil},
		{"invalid name", Changes{"a=b": new("1")}, nil, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.changes.applyTo(base)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("applyTo = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base.Map()
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range tt.changes {
				if v == nil {
					delete(want, k)
				}
			}
			if !maps.Equal(got.Map(), want) {
				t.Errorf("applyTo = %v, want %v", got.Map(), want)
			}
		})
	}
	// Writing a write-once variable that is not set yet is allowed.
	fresh, _ := NewEnv(map[string]string{".flags": "ethaddr:mo"})
	if _, err := (Changes{"ethaddr": new("00:11:22:33:44:55")}).applyTo(fresh); err != nil {
		t.Errorf("first write of a write-once variable = %v", err)
	}
}

func TestEnvString(t *testing.T) {
	env, _ := NewEnv(map[string]string{"b": "2", "a": "x y"})
	if got, want := env.String(), "a=x y\nb=2\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var zero Env
	if zero.Len() != 0 || zero.String() != "" || !zero.Equal(Env{}) {
		t.Error("zero Env is not empty")
	}
	c := env.Clone()
	c.Set("a", "changed")
	if v, _ := env.Get("a"); v != "x y" {
		t.Error("Clone shares storage")
	}
}

// FuzzDecodeCopy feeds the decoder of stored copies — outside bytes read
// from flash — with mutations of the tables above. Whatever decodes must
// encode again into the same layout and decode to the same variables and
// flag.
func FuzzDecodeCopy(f *testing.F) {
	for _, tt := range copyTests {
		f.Add(tt.raw, tt.layout.redundant, tt.layout.order == be)
	}
	for _, tt := range decodeTests {
		f.Add(append([]byte{0, 0, 0, 0, 0}, tt.data...), true, false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, redundant, bigEndian bool) {
		l := layout{size: len(raw), redundant: redundant, order: le}
		if bigEndian {
			l.order = be
		}
		// Most mutations break the CRC; decode the data area directly too.
		if len(raw) > l.headerSize() {
			if env, err := decodeData(raw[l.headerSize():]); err == nil {
				roundTrip(t, env, 0x5a, l)
			}
		}
		env, flag, err := decodeCopy(raw, l)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeCopy error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		roundTrip(t, env, flag, l)
	})
}

func roundTrip(t *testing.T, env Env, flag byte, l layout) {
	t.Helper()
	enc, err := encodeCopy(env, flag, l)
	if err != nil {
		t.Fatalf("decoded %d variables but cannot encode them into %d bytes: %v", env.Len(), l.size, err)
	}
	back, backFlag, err := decodeCopy(enc, l)
	if err != nil {
		t.Fatalf("decode of the re-encoded copy: %v", err)
	}
	if !back.Equal(env) {
		t.Fatalf("round trip changed the variables: %q, want %q", back.String(), env.String())
	}
	if l.redundant && backFlag != flag {
		t.Fatalf("round trip changed the flag: %d, want %d", backFlag, flag)
	}
}
