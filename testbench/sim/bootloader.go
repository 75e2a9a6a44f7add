package sim

import (
	"strconv"

	"patchbay.dev/firmware/bootenv"
)

// The U-Boot variables of boot counting.
const (
	VarBootcount        = "bootcount"
	VarBootlimit        = "bootlimit"
	VarUpgradeAvailable = "upgrade_available"
	VarAltbootcmd       = "altbootcmd"
	VarBootcmd          = "bootcmd"
)

// PowerOn is what one power-on of the modelled U-Boot did.
type PowerOn struct {
	// Env is the environment after the boot loader's saveenv calls.
	Env bootenv.Env
	// Saved is set when the boot loader wrote the environment.
	Saved bool
	// Slot is the slot value it tried to boot; empty if it found no
	// command to run (no altbootcmd when the boot limit was exceeded).
	Slot string
	// FellBack is set when the boot limit was exceeded and altbootcmd ran.
	FellBack bool
}

// BootOnce models one power-on of U-Boot with CONFIG_BOOTCOUNT_LIMIT and
// CONFIG_BOOTCOUNT_ENV. slotVar is the variable that selects the slot and
// slots its two values. It does no I/O.
//
//	bootcount = upgrade_available ? bootcount : 0   (bootcount_load)
//	bootcount++; if upgrade_available: saveenv       (bootcount_store)
//	if bootlimit && bootcount > bootlimit: run altbootcmd, else bootcmd
//
// The model of altbootcmd selects the other slot, sets
// upgrade_available=0, saves and boots; the model of bootcmd boots the
// slot slotVar selects.
func BootOnce(env bootenv.Env, slotVar string, slots [2]string) PowerOn {
	out := PowerOn{Env: env.Clone()}
	upgrade := ulong(env, VarUpgradeAvailable) != 0
	var count uint64
	if upgrade {
		count = ulong(env, VarBootcount)
	}
	count++
	if upgrade {
		// Set cannot fail: the name is valid and the value has no NUL.
		_ = out.Env.Set(VarBootcount, strconv.FormatUint(count, 10))
		out.Saved = true
	}
	limit := ulong(env, VarBootlimit)
	current, _ := env.Get(slotVar)
	if !upgrade || limit == 0 || count <= limit {
		out.Slot = current
		return out
	}
	if alt, _ := env.Get(VarAltbootcmd); alt == "" {
		return out // U-Boot has nothing to run and stops at its prompt
	}
	other := slots[0]
	if current == slots[0] {
		other = slots[1]
	}
	_ = out.Env.Set(slotVar, other)
	_ = out.Env.Set(VarUpgradeAvailable, "0")
	out.Saved, out.Slot, out.FellBack = true, other, true
	return out
}

// ulong reads a variable as U-Boot's env_get_ulong(name, 10, 0) does:
// leading decimal digits, 0 if there are none.
func ulong(env bootenv.Env, name string) uint64 {
	v, _ := env.Get(name)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(v[:end], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// maxResets bounds the failed boots the model tries before it calls the
// device bricked: enough for any boot limit a board sets (U-Boot counts to
// the limit, then altbootcmd, then the other slot).
const maxResets = 32

// Walk models power-ons until a slot boots: each one is BootOnce, and a
// boot that lands on a slot for which bootable is false fails, the board
// resets and U-Boot starts again. It returns every power-on in order; the
// last one booted if ok is true. It does no I/O.
func Walk(env bootenv.Env, slotVar string, slots [2]string, bootable func(slot string) bool) (steps []PowerOn, ok bool) {
	for range maxResets {
		p := BootOnce(env, slotVar, slots)
		steps = append(steps, p)
		if p.Slot != "" && bootable(p.Slot) {
			return steps, true
		}
		if !p.Saved {
			// Nothing was saved, so every further power-on does the
			// same: a boot loop on a bad slot, or U-Boot's prompt.
			return steps, false
		}
		env = p.Env
	}
	return steps, false
}
