package boards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// DeviceTreeModelPath is where Linux shows the device tree's model
// property, relative to the root file system.
const DeviceTreeModelPath = "proc/device-tree/model"

// maxLocalFile bounds what is read of one local file (os-release, model).
const maxLocalFile = 64 << 10

// IdentifyLocal recognises the device the agent runs on from its own
// files, read from root (os.DirFS("/") on a device, fstest.MapFS in tests):
// the device tree's model (NUL terminator removed) and the files the
// profiles name, such as /etc/openwrt_release or /etc/os-release. Profiles
// are ranked as by Identify, with device-tree and file conditions counted;
// the chosen profile's file version sources are tried in order.
//
// A missing file is a condition that does not hold; other read errors are
// returned.
func IdentifyLocal(ctx context.Context, root fs.FS, set *Set) (Identification, error) {
	l := &localFiles{root: root, files: make(map[string]*string)}
	model, err := l.read(ctx, "/"+DeviceTreeModelPath)
	if err != nil {
		return Identification{}, fmt.Errorf("identify local device: %w", err)
	}
	var id Identification
	if model != nil {
		id.DeviceTreeModel = strings.TrimSpace(strings.TrimRight(*model, "\x00"))
	}
	var cands []candidate
	for _, p := range set.profiles {
		m := p.Match
		if !m.local() {
			continue
		}
		c := candidate{p: p}
		if m.DeviceTreeModel != nil {
			if id.DeviceTreeModel == "" || !m.DeviceTreeModel.MatchString(id.DeviceTreeModel) {
				continue
			}
			c.conds++
		}
		ok := true
		for _, f := range m.Files {
			text, err := l.read(ctx, f.Path)
			if err != nil {
				return id, fmt.Errorf("identify local device: %w", err)
			}
			if text == nil || !f.Regexp.MatchString(*text) {
				ok = false
				break
			}
			c.conds++
		}
		if ok {
			cands = append(cands, c)
		}
	}
	choose(&id, cands)
	if id.Profile == nil {
		return id, nil
	}

	var problems []error
	for _, src := range id.Profile.Version.Sources {
		if src.Kind != SourceFile {
			continue
		}
		text, err := l.read(ctx, src.Path)
		if err != nil {
			return id, fmt.Errorf("read version of %s: %w", id.Profile.ID, err)
		}
		if text == nil {
			problems = append(problems, fmt.Errorf("%s: %w: no such file", src, ErrNoVersion))
			continue
		}
		v, err := src.Extract(*text)
		if err == nil {
			if err = id.Profile.Version.Scheme.Valid(v); err != nil {
				err = fmt.Errorf("%s: %w: %w", src, ErrNoVersion, err)
			}
		}
		if err != nil {
			problems = append(problems, err)
			continue
		}
		id.Version, id.VersionSource = v, src.String()
		return id, nil
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Errorf("%w: the profile has no file version source", ErrNoVersion))
	}
	id.VersionErr = fmt.Errorf("read version of %s: %w", id.Profile.ID, errors.Join(problems...))
	return id, nil
}

// localFiles caches the files one identification reads; nil: absent.
type localFiles struct {
	root  fs.FS
	files map[string]*string
}

func (l *localFiles) read(ctx context.Context, abs string) (*string, error) {
	if text, ok := l.files[abs]; ok {
		return text, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(abs, "/")
	f, err := l.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		l.files[abs] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", abs, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLocalFile))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", abs, err)
	}
	text := string(data)
	l.files[abs] = &text
	return &text, nil
}

// IdentifyUSB recognises a serial-attached device by its USB vendor and
// product id. Its version is read afterwards over the serial link (SMP
// image list or console), by the profile's smp and console sources; see
// Source.Extract.
func IdentifyUSB(set *Set, usb USBID) Identification {
	var cands []candidate
	for _, p := range set.profiles {
		for _, u := range p.Match.USB {
			if u == usb {
				cands = append(cands, candidate{p: p, conds: 1})
				break
			}
		}
	}
	var id Identification
	choose(&id, cands)
	return id
}
