package snmprec

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// parseTests is shared by TestParse and FuzzParse's seed corpus.
var parseTests = []struct {
	name    string
	in      string
	want    []Record // Line is ignored
	wantErr string   // substring of the error; empty: no error
}{
	{
		name: "system group",
		in: "1.3.6.1.2.1.1.1.0|4|Linux OpenWrt 5.4.137 #0 SMP armv7l\n" +
			"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n" +
			"1.3.6.1.2.1.1.3.0|67|123456\n",
		want: []Record{
			{OID: "1.3.6.1.2.1.1.1.0", Tag: TagOctetString, Value: []byte("Linux OpenWrt 5.4.137 #0 SMP armv7l")},
			{OID: "1.3.6.1.2.1.1.2.0", Tag: TagOID, Value: []byte("1.3.6.1.4.1.8072.3.2.10")},
			{OID: "1.3.6.1.2.1.1.3.0", Tag: TagTimeTicks, Value: []byte("123456")},
		},
	},
	{
		name: "value with pipes is split on the first two only",
		in:   "1.3.6.1.4.1.890.1.15.3.1.6.0|4|V2.40(AAHN.0) | 11/14/2017\n",
		want: []Record{{OID: "1.3.6.1.4.1.890.1.15.3.1.6.0", Tag: TagOctetString, Value: []byte("V2.40(AAHN.0) | 11/14/2017")}},
	},
	{
		name: "hex string with CR LF and quotes",
		in:   "1.3.6.1.2.1.1.1.0|4x|22436973636f0d0a494f5322\n",
		want: []Record{{OID: "1.3.6.1.2.1.1.1.0", Tag: TagOctetString, Value: []byte("\"Cisco\r\nIOS\"")}},
	},
	{
		name: "empty string and empty hex",
		in:   "1.3.6.1.2.1.1.1.0|4|\n1.3.6.1.2.1.1.4.0|4x|\n",
		want: []Record{
			{OID: "1.3.6.1.2.1.1.1.0", Tag: TagOctetString, Value: []byte{}},
			{OID: "1.3.6.1.2.1.1.4.0", Tag: TagOctetString, Value: []byte{}},
		},
	},
	{
		name: "escaped string",
		in:   `1.3.6.1.2.1.1.1.0|4e|a\nb\x00\101\\\q` + "\n",
		want: []Record{{OID: "1.3.6.1.2.1.1.1.0", Tag: TagOctetString, Value: []byte("a\nb\x00A\\\\q")}},
	},
	{
		name: "numbers, addresses, null and opaque",
		in: "1.3.6.1.2.1.2.2.1.1.1|2|-2147483648\n" +
			"1.3.6.1.2.1.2.2.1.10.1|65|4294967295\n" +
			"1.3.6.1.2.1.2.2.1.5.1|66|1000000000\n" +
			"1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615\n" +
			"1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|10.0.0.1\n" +
			"1.3.6.1.2.1.4.20.1.1.10.0.0.2|64x|0a000002\n" +
			`1.3.6.1.2.1.4.20.1.1.10.0.0.3|64e|\n\x00\x00\x03` + "\n" +
			"1.3.6.1.4.1.2021.10.1.6.1|68x|9f780441\n" +
			"1.3.6.1.4.1.99.1.0|5|\n",
		want: []Record{
			{OID: "1.3.6.1.2.1.2.2.1.1.1", Tag: TagInteger, Value: []byte("-2147483648")},
			{OID: "1.3.6.1.2.1.2.2.1.5.1", Tag: TagGauge32, Value: []byte("1000000000")},
			{OID: "1.3.6.1.2.1.2.2.1.10.1", Tag: TagCounter32, Value: []byte("4294967295")},
			{OID: "1.3.6.1.2.1.4.20.1.1.10.0.0.1", Tag: TagIPAddress, Value: []byte("10.0.0.1")},
			{OID: "1.3.6.1.2.1.4.20.1.1.10.0.0.2", Tag: TagIPAddress, Value: []byte("10.0.0.2")},
			{OID: "1.3.6.1.2.1.4.20.1.1.10.0.0.3", Tag: TagIPAddress, Value: []byte("10.0.0.3")},
			{OID: "1.3.6.1.2.1.31.1.1.1.6.1", Tag: TagCounter64, Value: []byte("18446744073709551615")},
			{OID: "1.3.6.1.4.1.99.1.0", Tag: TagNull},
			{OID: "1.3.6.1.4.1.2021.10.1.6.1", Tag: TagOpaque, Value: []byte{0x9f, 0x78, 0x04, 0x41}},
		},
	},
	{
		name: "numeric order, not text order",
		in:   "1.3.6.1.10|2|10\n1.3.6.1.9|2|9\n1.3.6.1.9.1|2|91\n1.3.6.1|2|0\n",
		want: []Record{
			{OID: "1.3.6.1", Tag: TagInteger, Value: []byte("0")},
			{OID: "1.3.6.1.9", Tag: TagInteger, Value: []byte("9")},
			{OID: "1.3.6.1.9.1", Tag: TagInteger, Value: []byte("91")},
			{OID: "1.3.6.1.10", Tag: TagInteger, Value: []byte("10")},
		},
	},
	{
		name: "duplicate OID keeps the first line",
		in:   "1.3.6.1.2.1.1.5.0|4|first\n1.3.6.1.2.1.1.5.0|4|second\n",
		want: []Record{{OID: "1.3.6.1.2.1.1.5.0", Tag: TagOctetString, Value: []byte("first")}},
	},
	{
		name: "blank lines, comments, CRLF and a leading dot",
		in:   "# recorded by hand\r\n\r\n.1.3.6.1.2.1.1.5.0|4|sw1\r\n\n",
		want: []Record{{OID: "1.3.6.1.2.1.1.5.0", Tag: TagOctetString, Value: []byte("sw1")}},
	},
	{name: "unknown tag", in: "1.3.6.1.2.1.1.1.0|4|ok\n1.3.6.1.2.1.1.2.0|99|x\n", wantErr: `t.snmprec:2: unknown tag "99"`},
	{name: "variation module", in: "1.3.6.1.2.1.1.3.0|67:numeric|rate=10\n", wantErr: `t.snmprec:1: tag "67": snmpsim variation module "numeric" is not supported`},
	{name: "hex on a number", in: "1.3.6.1.2.1.1.7.0|2x|4c\n", wantErr: `t.snmprec:1: tag "2x"`},
	{name: "missing tag", in: "1.3.6.1.2.1.1.1.0\n", wantErr: `t.snmprec:1: want OID|TAG|VALUE, found no "|"`},
	{name: "missing value", in: "1.3.6.1.2.1.1.1.0|4\n", wantErr: `t.snmprec:1: want OID|TAG|VALUE, found only one "|"`},
	{name: "bad OID", in: "1.3.6.a|4|x\n", wantErr: `t.snmprec:1: OID: "1.3.6.a": sub-identifier 4`},
	{name: "one-arc OID", in: "1|4|x\n", wantErr: "at least two sub-identifiers"},
	{name: "arc too large", in: "1.3.4294967296|4|x\n", wantErr: "below 2^32"},
	{name: "odd hex", in: "1.3.6.1.2.1.1.1.0|4x|abc\n", wantErr: "bad hex"},
	{name: "integer out of range", in: "1.3.6.1.2.1.1.7.0|2|2147483648\n", wantErr: "signed 32-bit"},
	{name: "negative counter", in: "1.3.6.1.2.1.2.2.1.10.1|65|-1\n", wantErr: "unsigned 32-bit"},
	{name: "bad ip address", in: "1.3.6.1.2.1.4.20.1.1.1|64|::1\n", wantErr: "dotted-quad"},
	{name: "short hex ip address", in: "1.3.6.1.2.1.4.20.1.1.1|64x|0a00\n", wantErr: "IpAddress has 2 bytes"},
	{name: "bad OID value", in: "1.3.6.1.2.1.1.2.0|6|iso.3.6\n", wantErr: "sub-identifier 1"},
	{name: "truncated hex escape", in: `1.3.6.1.2.1.1.1.0|4e|ab\x4` + "\n", wantErr: "two hex digits"},
	{name: "lone backslash", in: `1.3.6.1.2.1.1.1.0|4e|ab\`, wantErr: "lone"},
	{name: "octal escape too large", in: `1.3.6.1.2.1.1.1.0|4e|\777`, wantErr: `above \377`},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Parse("t.snmprec", strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.File != "t.snmprec" || pe.Line == 0 {
					t.Errorf("Parse() error = %#v, want a *ParseError naming file and line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, rec.Records(), cmpopts.IgnoreFields(Record{}, "Line"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse() records mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	in := "1.3|4|ok\n1.3.1|99|x\n1.3.2|4|ok\n1.3.3|2|NaN\n"
	_, err := Parse("t.snmprec", strings.NewReader(in))
	if err == nil {
		t.Fatal("Parse() error = nil, want two bad lines")
	}
	for _, want := range []string{"t.snmprec:2:", "t.snmprec:4:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse() error = %q, want it to name %s", err, want)
		}
	}
}

func TestParseLongLine(t *testing.T) {
	in := "1.3.6.1.2.1.1.1.0|4|" + strings.Repeat("a", maxLine) + "\n"
	_, err := Parse("t.snmprec", strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "t.snmprec:1: line longer than") {
		t.Errorf("Parse() error = %v, want a too-long line at t.snmprec:1", err)
	}
}

func TestDuplicates(t *testing.T) {
	rec, err := Parse("t.snmprec", strings.NewReader("1.3.1|4|a\n1.3.1|4|b\n1.3.1|2|3\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Duplicates()
	want := []Record{
		{OID: "1.3.1", Tag: TagOctetString, Value: []byte("b"), Line: 2},
		{OID: "1.3.1", Tag: TagInteger, Value: []byte("3"), Line: 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Duplicates() mismatch (-want +got):\n%s", diff)
	}
}
