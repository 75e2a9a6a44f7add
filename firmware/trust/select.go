package trust

import (
	"errors"
	"fmt"
	"strings"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/version"
)

// Device is what target selection needs to know about a device.
type Device struct {
	Board string    // board profile id, e.g. "openwrt-ath79-generic"
	Kind  meta.Kind // what is being updated; "" accepts any kind
	// Installed is the version running now; "" when unknown or nothing is
	// installed (then a target with min_version is refused).
	Installed string
	Scheme    version.Scheme // how the board orders versions
}

// Policy is the caller's veto over a target that fits the device
// (severity thresholds, exclusions, maintenance windows…). A nil Policy
// accepts everything.
type Policy func(t Target) error

// Check says whether device d may install target t, or why not with a
// *RejectedError wrapping ErrNoMetadata, ErrWrongKind, ErrWrongBoard,
// ErrNotNewer, ErrDowngrade or ErrBelowMinVersion. A target older than the
// installed version passes only if its signed metadata has
// allow_downgrade. Check applies no policy; Select does.
func Check(t Target, d Device) error {
	reject := func(reason error, format string, args ...any) error {
		if format != "" {
			reason = fmt.Errorf("%w: %s", reason, fmt.Sprintf(format, args...))
		}
		return &RejectedError{Target: t.Name, Reason: reason}
	}
	m := t.Meta
	if m == nil {
		if t.MetaErr != nil && !errors.Is(t.MetaErr, meta.ErrNoMetadata) {
			return reject(ErrNoMetadata, "%v", t.MetaErr)
		}
		return reject(ErrNoMetadata, "")
	}
	if d.Kind != "" && m.Kind != d.Kind {
		return reject(ErrWrongKind, "target is %s, device wants %s", m.Kind, d.Kind)
	}
	if !m.Fits(d.Board) {
		return reject(ErrWrongBoard, "device is %s, target fits %s", d.Board, strings.Join(m.Boards, ", "))
	}
	if err := d.Scheme.Valid(m.Version); err != nil {
		return reject(fmt.Errorf("target version: %w", err), "")
	}
	if d.Installed == "" {
		if m.MinVersion != "" {
			return reject(ErrBelowMinVersion, "installed version unknown, target needs at least %s", m.MinVersion)
		}
		return nil
	}
	c, err := d.Scheme.Compare(m.Version, d.Installed)
	if err != nil {
		return reject(fmt.Errorf("compare with installed version: %w", err), "")
	}
	switch {
	case c == 0:
		return reject(ErrNotNewer, "%s", d.Installed)
	case c < 0 && !m.AllowDowngrade:
		return reject(ErrDowngrade, "installed %s, target %s", d.Installed, m.Version)
	}
	if m.MinVersion != "" {
		c, err := d.Scheme.Compare(d.Installed, m.MinVersion)
		if err != nil {
			return reject(fmt.Errorf("min_version: %w", err), "")
		}
		if c < 0 {
			return reject(ErrBelowMinVersion, "installed %s, target needs at least %s", d.Installed, m.MinVersion)
		}
	}
	return nil
}

// Select picks the newest target that device d may install and policy
// accepts. It only picks upgrades: a signed downgrade is installed when
// the gateway assigns it (and Check allows it), never chosen here. When
// nothing qualifies it returns ErrNoUpdate.
func Select(targets []Target, d Device, policy Policy) (Target, error) {
	var best *Target
	refused := 0
	for i := range targets {
		t := &targets[i]
		if err := Check(*t, d); err != nil {
			continue
		}
		if d.Installed != "" {
			if c, _ := d.Scheme.Compare(t.Meta.Version, d.Installed); c <= 0 {
				continue
			}
		}
		if policy != nil {
			if err := policy(*t); err != nil {
				refused++
				continue
			}
		}
		if best == nil {
			best = t
			continue
		}
		c, _ := d.Scheme.Compare(t.Meta.Version, best.Meta.Version)
		if c > 0 || c == 0 && t.Name < best.Name {
			best = t
		}
	}
	if best == nil {
		if refused > 0 {
			return Target{}, fmt.Errorf("%w (%d refused by policy)", ErrNoUpdate, refused)
		}
		return Target{}, ErrNoUpdate
	}
	return *best, nil
}
