package bootenv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// DefaultConfigPath is where fw_printenv and fw_setenv look for their
// configuration.
const DefaultConfigPath = "/etc/fw_env.config"

// DefaultLockPath is the lock file libubootenv's tools take (flock) while
// they read or write the environment.
const DefaultLockPath = "/var/lock/fw_printenv.lock"

// Location is one copy of the environment: one line of fw_env.config.
type Location struct {
	// Device is a file, a block device or an MTD character device.
	Device string
	// Offset of the copy in Device. Negative counts back from the end of
	// a block device.
	Offset int64
	// Size of the copy, header included ("Env. size").
	Size int64
	// SectorSize is the flash erase unit; 0 means the device's erase
	// size on MTD and is unused elsewhere.
	SectorSize int64
	// Sectors is how many sectors the copy may use, to skip NAND bad
	// blocks; 0 means one.
	Sectors int64
}

// String names the copy for messages: "/dev/mtd1 at 0x0".
func (l Location) String() string { return fmt.Sprintf("%s at %#x", l.Device, l.Offset) }

// Config says where the environment is stored and how.
type Config struct {
	// Copies holds one Location, or two for a redundant environment.
	Copies []Location
	// LockPath is the lock file shared with fw_printenv and fw_setenv;
	// empty means DefaultLockPath.
	LockPath string
	// DisableLock skips the lock file (libubootenv's sixth column).
	DisableLock bool
	// ByteOrder of the CRC; nil means the CPU's, which is what U-Boot on
	// the same CPU writes. Set it when reading another machine's image,
	// such as a big-endian MIPS router's on an x86 host.
	ByteOrder binary.ByteOrder
}

// Redundant reports whether the environment has two copies.
func (c Config) Redundant() bool { return len(c.Copies) == 2 }

// Validate returns every problem of the configuration, joined.
func (c Config) Validate() error {
	var errs []error
	if n := len(c.Copies); n < 1 || n > 2 {
		errs = append(errs, fmt.Errorf("bootenv config: %d copies, want 1 or 2", n))
	}
	for i, l := range c.Copies {
		least := int64(5) // a CRC and the terminating empty entry
		if c.Redundant() {
			least = 6 // and the flag
		}
		switch {
		case l.Device == "":
			errs = append(errs, fmt.Errorf("bootenv config: copy %d: no device", i+1))
		case l.Size < least:
			errs = append(errs, fmt.Errorf("bootenv config: copy %d (%s): environment size %#x is too small", i+1, l, l.Size))
		case l.Size > 64<<20:
			errs = append(errs, fmt.Errorf("bootenv config: copy %d (%s): environment size %#x is implausibly large", i+1, l, l.Size))
		case l.SectorSize < 0 || l.Sectors < 0:
			errs = append(errs, fmt.Errorf("bootenv config: copy %d (%s): negative sector size or count", i+1, l))
		}
	}
	if c.Redundant() && c.Copies[0].Size != c.Copies[1].Size {
		errs = append(errs, fmt.Errorf("bootenv config: copies have different sizes %#x and %#x; both must be the same",
			c.Copies[0].Size, c.Copies[1].Size))
	}
	return errors.Join(errs...)
}

func (c Config) layout() layout {
	order := c.ByteOrder
	if order == nil {
		order = binary.NativeEndian
	}
	return layout{size: int(c.Copies[0].Size), redundant: c.Redundant(), order: order}
}

func (c Config) lockPath() string {
	if c.LockPath == "" {
		return DefaultLockPath
	}
	return c.LockPath
}

// LoadConfig reads and parses the fw_env.config file at path.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("bootenv config: %w", err)
	}
	defer f.Close()
	return ParseConfig(path, f)
}

// ParseConfig parses fw_env.config text; name is used in error messages.
// It is stricter than libubootenv, which skips lines it cannot parse:
// those are errors naming the line, and so is a third copy.
func ParseConfig(name string, r io.Reader) (Config, error) {
	var cfg Config
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i]
				break
			}
		}
		loc, disableLock, err := parseLine(fields)
		if err != nil {
			return Config{}, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(cfg.Copies) == 2 {
			return Config{}, fmt.Errorf("%s:%d: a third environment copy; fw_env.config holds one or two", name, line)
		}
		cfg.Copies = append(cfg.Copies, loc)
		cfg.DisableLock = cfg.DisableLock || disableLock
	}
	if err := sc.Err(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(cfg.Copies) == 0 {
		return Config{}, fmt.Errorf("%s: no environment copy configured (want lines of: device offset size [sector-size [sectors]])", name)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// parseLine parses "device offset size [sector-size [sectors [disable-lock]]]".
func parseLine(fields []string) (Location, bool, error) {
	if len(fields) < 3 {
		return Location{}, false, fmt.Errorf("%d fields, want at least device, offset and environment size", len(fields))
	}
	if len(fields) > 6 {
		return Location{}, false, fmt.Errorf("%d fields, want at most 6: device offset size sector-size sectors disable-lock", len(fields))
	}
	loc := Location{Device: fields[0]}
	var err error
	if loc.Offset, err = parseCInt(fields[1]); err != nil {
		return Location{}, false, fmt.Errorf("offset %q: %w", fields[1], err)
	}
	hex := []*int64{&loc.Size, &loc.SectorSize, &loc.Sectors}
	names := []string{"environment size", "sector size", "number of sectors"}
	for i, f := range fields[2:min(len(fields), 5)] {
		if *hex[i], err = parseHex(f); err != nil {
			return Location{}, false, fmt.Errorf("%s %q: %w", names[i], f, err)
		}
	}
	if loc.Size == 0 {
		return Location{}, false, errors.New("environment size is 0")
	}
	disableLock := false
	if len(fields) == 6 {
		switch fields[5] {
		case "0":
		case "1":
			disableLock = true
		default:
			return Location{}, false, fmt.Errorf("disable-lock %q: want 0 or 1", fields[5])
		}
	}
	return loc, disableLock, nil
}

// parseCInt parses an integer as C's strtoll with base 0 does: optional
// sign, then 0x for hex, a leading 0 for octal, else decimal.
func parseCInt(s string) (int64, error) {
	neg := false
	body := s
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X"):
		base, body = 16, body[2:]
	case len(body) > 1 && body[0] == '0':
		base, body = 8, body[1:]
	}
	if body == "" || strings.ContainsAny(body, "+-_") {
		return 0, errors.New("not a number")
	}
	v, err := strconv.ParseInt(body, base, 64)
	if err != nil {
		return 0, errors.New("not a number or out of range")
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseHex parses a hexadecimal number with or without 0x, as C's %lx
// does: "1000" is 4096.
func parseHex(s string) (int64, error) {
	body := s
	if len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X") {
		body = body[2:]
	}
	if body == "" || strings.ContainsAny(body, "+-_") {
		return 0, errors.New("not a hexadecimal number")
	}
	v, err := strconv.ParseInt(body, 16, 64)
	if err != nil {
		return 0, errors.New("not a hexadecimal number or out of range")
	}
	return v, nil
}
