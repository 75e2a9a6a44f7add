package boards

import (
	"net/url"
	"path"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

func (d *decoder) boot(n *yaml.Node, at string) Boot {
	var (
		b      Boot
		loader string
	)
	given := d.mapping(n, at, []field{
		{"loader", true, func(n *yaml.Node, at string) {
			d.oneOf(n, at, &loader, string(LoaderNone), string(LoaderUBoot), string(LoaderMCUboot))
		}},
		{"uboot_env", false, func(n *yaml.Node, at string) { b.UBootEnv = d.ubootEnv(n, at) }},
		{"slot_variable", false, func(n *yaml.Node, at string) {
			if d.str(n, at, &b.SlotVariable); strings.ContainsAny(b.SlotVariable, "= \t\n") {
				d.errorf(n, at, "%q is not a U-Boot variable name (no '=' or white space)", b.SlotVariable)
			}
		}},
		{"slots", false, func(n *yaml.Node, at string) {
			d.list(n, at, func(n *yaml.Node, at string) { b.Slots = append(b.Slots, d.slot(n, at)) })
		}},
	})
	if given == nil || loader == "" {
		return b
	}
	b.Loader = Loader(loader)
	notFor := func(f string) {
		if k := given[f]; k != nil {
			d.errorf(k, join(at, f), "not used with loader %s; remove it", loader)
		}
	}
	needs := func(f, what string) {
		if given[f] == nil {
			d.errorf(n, join(at, f), "loader %s needs %s", loader, what)
		}
	}
	switch b.Loader {
	case LoaderNone:
		notFor("uboot_env")
		notFor("slot_variable")
		notFor("slots")
	case LoaderUBoot:
		needs("uboot_env", "the environment's place (size, copies)")
		needs("slot_variable", "the variable that selects the slot")
		needs("slots", "two slots")
	case LoaderMCUboot:
		notFor("uboot_env")
		notFor("slot_variable")
	}
	if k := given["slots"]; k != nil {
		d.checkSlots(k, join(at, "slots"), b)
	}
	return b
}

func (d *decoder) checkSlots(k *yaml.Node, at string, b Boot) {
	if len(b.Slots) != 2 {
		d.errorf(k, at, "want exactly two slots (A and B, or MCUboot's primary and secondary), found %d", len(b.Slots))
		return
	}
	a, c := b.Slots[0], b.Slots[1]
	if a.Name != "" && a.Name == c.Name {
		d.errorf(k, at, "both slots are named %q; give them different names", a.Name)
	}
	if a.Value != "" && a.Value == c.Value {
		d.errorf(k, at, "both slots have value %q; the slot variable could not tell them apart", a.Value)
	}
	for i, s := range b.Slots {
		if b.Loader == LoaderMCUboot && s.Value != "0" && s.Value != "1" {
			d.errorf(k, index(at, i)+".value", "MCUboot slots are numbered 0 (primary) and 1 (secondary), found %q", s.Value)
		}
		if b.Loader == LoaderUBoot && len(s.Devices) == 0 {
			d.errorf(k, index(at, i)+".devices", "name where this slot's images are written, such as {kernel: mtd:kernel1, rootfs: mtd:rootfs1}")
		}
		for _, role := range sortedKeys(s.Devices) {
			if dev := s.Devices[role]; b.Loader == LoaderUBoot && !validDevice(dev) {
				d.errorf(k, index(at, i)+".devices."+role, "%q: want an absolute device path or mtd:NAME", dev)
			}
		}
		if len(s.Set) > 0 && b.Loader != LoaderUBoot {
			d.errorf(k, index(at, i)+".set", "only U-Boot slots set variables")
		}
	}
}

func (d *decoder) slot(n *yaml.Node, at string) Slot {
	var s Slot
	d.mapping(n, at, []field{
		{"name", true, func(n *yaml.Node, at string) { d.str(n, at, &s.Name) }},
		{"value", true, func(n *yaml.Node, at string) { d.str(n, at, &s.Value) }},
		{"devices", false, func(n *yaml.Node, at string) { d.stringMap(n, at, &s.Devices) }},
		{"set", false, func(n *yaml.Node, at string) { d.stringMap(n, at, &s.Set) }},
	})
	return s
}

// validDevice accepts an absolute path or "mtd:NAME".
func validDevice(s string) bool {
	if name, ok := strings.CutPrefix(s, "mtd:"); ok {
		return name != "" && !strings.ContainsAny(name, " \t\n/")
	}
	return path.IsAbs(s) && path.Clean(s) == s && s != "/"
}

func isMTD(dev string) bool {
	return strings.HasPrefix(dev, "mtd:") || strings.HasPrefix(dev, "/dev/mtd")
}

func (d *decoder) ubootEnv(n *yaml.Node, at string) *UBootEnv {
	var (
		e         UBootEnv
		redundant bool
		copyNodes []*yaml.Node
	)
	given := d.mapping(n, at, []field{
		{"size", true, func(n *yaml.Node, at string) { d.size(n, at, &e.Size) }},
		{"redundant", false, func(n *yaml.Node, at string) { d.boolean(n, at, &redundant) }},
		{"copies", true, func(n *yaml.Node, at string) {
			d.list(n, at, func(n *yaml.Node, at string) {
				e.Copies = append(e.Copies, d.envCopy(n, at))
				copyNodes = append(copyNodes, n)
			})
		}},
	})
	if given == nil {
		return &e
	}
	if given["size"] != nil && e.Size == 0 {
		d.errorf(given["size"], join(at, "size"), "must be above 0 (U-Boot's CONFIG_ENV_SIZE, such as 0x10000)")
	}
	want := 1
	if redundant {
		want = 2
	}
	if k := given["copies"]; k != nil && len(e.Copies) != want {
		d.errorf(k, join(at, "copies"), "redundant: %t needs %d copies, found %d", redundant, want, len(e.Copies))
	}
	for i, c := range e.Copies {
		if !isMTD(c.Device) {
			continue
		}
		p := index(join(at, "copies"), i)
		switch {
		case c.SectorSize == 0:
			d.errorf(copyNodes[i], p+".sector_size", "an MTD device needs its erase block size, such as 0x10000")
		case c.Offset%c.SectorSize != 0:
			d.errorf(copyNodes[i], p+".offset", "%#x is not on an erase block boundary of %#x", c.Offset, c.SectorSize)
		}
	}
	return &e
}

func (d *decoder) envCopy(n *yaml.Node, at string) EnvCopy {
	var c EnvCopy
	d.mapping(n, at, []field{
		{"device", true, func(n *yaml.Node, at string) {
			if s, ok := d.scalar(n, at, "a device"); ok {
				if !validDevice(s) {
					d.errorf(n, at, "%q: want an absolute path (/dev/mtd1, /boot/firmware/uboot.env) or mtd:NAME", s)
					return
				}
				c.Device = s
			}
		}},
		{"offset", false, func(n *yaml.Node, at string) { d.size(n, at, &c.Offset) }},
		{"sector_size", false, func(n *yaml.Node, at string) { d.size(n, at, &c.SectorSize) }},
	})
	return c
}

func (d *decoder) reboot(n *yaml.Node, at string) Reboot {
	var (
		r      Reboot
		method string
	)
	given := d.mapping(n, at, []field{
		{"method", true, func(n *yaml.Node, at string) {
			d.oneOf(n, at, &method, string(RebootNone), string(RebootCommand), string(RebootMCUbootReset))
		}},
		{"command", false, func(n *yaml.Node, at string) { d.stringList(n, at, &r.Command) }},
	})
	if given == nil || method == "" {
		return r
	}
	r.Method = RebootMethod(method)
	switch {
	case r.Method == RebootCommand && len(r.Command) == 0:
		d.errorf(n, join(at, "command"), "method command needs the command as a list, such as [reboot]")
	case r.Method != RebootCommand && given["command"] != nil:
		d.errorf(given["command"], join(at, "command"), "only method command runs a command")
	}
	return r
}

// maxHealthTimeout bounds one check; a trial boot must end.
const maxHealthTimeout = 10 * time.Minute

func (d *decoder) health(n *yaml.Node, at string) []HealthCheck {
	var checks []HealthCheck
	names := make(map[string]bool)
	d.list(n, at, func(n *yaml.Node, at string) {
		var (
			h      HealthCheck
			kind   string
			status int64
		)
		given := d.mapping(n, at, []field{
			{"name", true, func(n *yaml.Node, at string) { d.str(n, at, &h.Name) }},
			{"kind", true, func(n *yaml.Node, at string) {
				d.oneOf(n, at, &kind, string(HealthCommand), string(HealthHTTP), string(HealthMQTTRoundtrip))
			}},
			{"command", false, func(n *yaml.Node, at string) { d.stringList(n, at, &h.Command) }},
			{"url", false, func(n *yaml.Node, at string) {
				if d.str(n, at, &h.URL); h.URL != "" {
					if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						d.errorf(n, at, "%q: want an http:// or https:// URL", h.URL)
					}
				}
			}},
			{"expect_status", false, func(n *yaml.Node, at string) { d.integer(n, at, 100, 599, &status) }},
			{"timeout", true, func(n *yaml.Node, at string) { d.duration(n, at, maxHealthTimeout, &h.Timeout) }},
		})
		if given == nil || kind == "" {
			return
		}
		h.Kind, h.ExpectStatus = HealthKind(kind), int(status)
		if h.Name != "" && names[h.Name] {
			d.errorf(given["name"], join(at, "name"), "another check is already named %q", h.Name)
		}
		names[h.Name] = true
		only := map[string]HealthKind{"command": HealthCommand, "url": HealthHTTP, "expect_status": HealthHTTP}
		for _, f := range sortedKeys(only) {
			if given[f] != nil && h.Kind != only[f] {
				d.errorf(given[f], join(at, f), "only kind %s takes %s", only[f], f)
			}
		}
		switch {
		case h.Kind == HealthCommand && len(h.Command) == 0:
			d.errorf(n, join(at, "command"), "kind command needs the command as a list, such as [ubus, call, system, board]")
		case h.Kind == HealthHTTP && given["url"] == nil:
			d.errorf(n, join(at, "url"), "kind http needs a url")
		}
		if h.Kind == HealthHTTP && h.ExpectStatus == 0 {
			h.ExpectStatus = 200
		}
		checks = append(checks, h)
	})
	return checks
}
