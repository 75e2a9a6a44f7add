package main

import (
	"fmt"
	"os"
	"path/filepath"

	"patchbay.dev/agent/install"
)

// tear models what a power cut does to the write that was in flight, with
// probability tearRate: only bytes not yet made durable may be lost or
// garbled.
//
//   - an environment copy being written (between the agent's W and D
//     events): random bytes of it are overwritten, as a half-programmed
//     copy would look; the boot loader must then use the other copy;
//   - the slot being downloaded into: it loses a random part of what came
//     after the last checkpoint (the journal's "written"), and while the
//     image is complete but not yet committed, its head block may be
//     half written too;
//   - a temporary file (the journal's or the head file's, written before a
//     rename): cut at a random length.
//
// It returns what it tore, "" for nothing.
func (c *campaign) tear(r agentProc) (string, error) {
	if c.rng.Float64() >= c.opts.tearRate {
		return "", nil
	}
	type candidate struct {
		name string
		do   func() error
	}
	var cands []candidate
	if dev := envInFlight(r.events); dev != "" {
		cands = append(cands, candidate{"env copy", func() error { return c.garble(dev, 0, -1) }})
	}
	if phaseOf(r.events) == string(install.StateDownloading) {
		if data, err := os.ReadFile(filepath.Join(c.stateDir, install.JournalFile)); err == nil {
			if j, err := install.DecodeJournal(data); err == nil && j.State == install.StateDownloading {
				slotFile := c.w.device().SlotPath(j.ToSlot)
				cands = append(cands, candidate{"slot tail", func() error { return c.truncateAfter(slotFile, j.Written) }})
				if j.Written == j.Target.Length {
					cands = append(cands, candidate{"slot head", func() error { return c.garble(slotFile, 0, 128<<10) }})
				}
			}
		}
	}
	for _, pattern := range []string{"." + install.JournalFile + ".tmp-*", ".slot.head.tmp-*"} {
		matches, _ := filepath.Glob(filepath.Join(c.stateDir, pattern))
		for _, m := range matches {
			cands = append(cands, candidate{"temporary file", func() error { return c.truncateAfter(m, 0) }})
		}
	}
	if len(cands) == 0 {
		return "", nil
	}
	pick := cands[c.rng.IntN(len(cands))]
	if err := pick.do(); err != nil {
		return "", fmt.Errorf("tear %s: %w", pick.name, err)
	}
	return pick.name, nil
}

// envInFlight returns the environment copy a run was writing when it was
// cut, or "".
func envInFlight(events []event) string {
	dev := ""
	for _, ev := range events {
		switch ev.kind {
		case "W":
			dev = ev.field(1)
		case "D":
			dev = ""
		}
	}
	return dev
}

// garble overwrites a random run of bytes of path within [from, to) (to -1:
// the file's end) with random bytes.
func (c *campaign) garble(path string, from, to int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		if to < 0 || to > st.Size() {
			to = st.Size()
		}
		if to > from {
			off := from + c.rng.Int64N(to-from)
			junk := make([]byte, 1+c.rng.IntN(int(min(to-off, 4096))))
			for i := range junk {
				junk[i] = byte(c.rng.Uint32())
			}
			_, err = f.WriteAt(junk, off)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// truncateAfter cuts path at a random length of at least keep bytes.
func (c *campaign) truncateAfter(path string, keep int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() <= keep {
		return nil
	}
	return os.Truncate(path, keep+c.rng.Int64N(st.Size()-keep))
}
