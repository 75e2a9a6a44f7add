package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// MaxDocumentBytes bounds any document on the wire.
const MaxDocumentBytes = 256 << 10

// ErrSchema is wrapped when a document has another schema version.
var ErrSchema = errors.New("unsupported schema version")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic(err) // fixed options: a failure is a programming error
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8,
		MaxArrayElements: 4096,
		MaxMapPairs:      1024,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Document is any of the package's documents.
type Document interface {
	*State | *Event | *Ack | *Desired | *Command
}

// Marshal encodes a document as CBOR, setting its schema version.
func Marshal[D Document](d D) ([]byte, error) {
	setSchema(d)
	b, err := encMode.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", d, err)
	}
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("encode %T: %d bytes exceeds the %d-byte limit", d, len(b), MaxDocumentBytes)
	}
	return b, nil
}

// Unmarshal decodes CBOR into d and checks its schema version.
func Unmarshal[D Document](data []byte, d D) error {
	if len(data) > MaxDocumentBytes {
		return fmt.Errorf("decode %T: %d bytes exceeds the %d-byte limit", d, len(data), MaxDocumentBytes)
	}
	if err := decMode.Unmarshal(data, d); err != nil {
		return fmt.Errorf("decode %T: %w", d, err)
	}
	if v := schemaOf(d); v != SchemaVersion {
		return fmt.Errorf("decode %T: %w %d (this build speaks %d)", d, ErrSchema, v, SchemaVersion)
	}
	return nil
}

// JSON renders a document for people.
func JSON[D Document](d D) ([]byte, error) {
	setSchema(d)
	return json.MarshalIndent(d, "", "  ")
}

func setSchema(d any) {
	switch v := d.(type) {
	case *State:
		v.Schema = SchemaVersion
	case *Event:
		v.Schema = SchemaVersion
	case *Ack:
		v.Schema = SchemaVersion
	case *Desired:
		v.Schema = SchemaVersion
	case *Command:
		v.Schema = SchemaVersion
	}
}

func schemaOf(d any) int {
	switch v := d.(type) {
	case *State:
		return v.Schema
	case *Event:
		return v.Schema
	case *Ack:
		return v.Schema
	case *Desired:
		return v.Schema
	case *Command:
		return v.Schema
	}
	return 0
}
