package bootenv

import "testing"

// activeTests are the choices fw_printenv 0.3.2 made for copies with these
// flags (incremental: file-backed environments), and which flag fw_setenv
// wrote next into the other copy.
var activeTests = []struct {
	flags  [2]byte
	valid  [2]bool
	active int
}{
	{[2]byte{0, 0}, [2]bool{true, true}, 0},
	{[2]byte{5, 5}, [2]bool{true, true}, 0},
	{[2]byte{0, 1}, [2]bool{true, true}, 1},
	{[2]byte{2, 1}, [2]bool{true, true}, 0},
	{[2]byte{254, 255}, [2]bool{true, true}, 1},
	{[2]byte{255, 0}, [2]bool{true, true}, 1}, // wrapped
	{[2]byte{0, 255}, [2]bool{true, true}, 0}, // wrapped
	{[2]byte{255, 1}, [2]bool{true, true}, 0}, // only 255 -> 0 wraps
	{[2]byte{254, 0}, [2]bool{true, true}, 0},
	{[2]byte{128, 0}, [2]bool{true, true}, 0},
	{[2]byte{10, 200}, [2]bool{true, true}, 1},
	{[2]byte{255, 255}, [2]bool{true, true}, 0},
	{[2]byte{5, 9}, [2]bool{false, true}, 1},
	{[2]byte{9, 5}, [2]bool{true, false}, 0},
	{[2]byte{255, 0}, [2]bool{true, false}, 0}, // validity beats flags
	{[2]byte{7, 3}, [2]bool{false, false}, -1},
}

func TestActiveCopyIncremental(t *testing.T) {
	for _, tt := range activeTests {
		if got := activeCopy(incremental, tt.valid, tt.flags); got != tt.active {
			t.Errorf("activeCopy(incremental, valid %v, flags %v) = %d, want %d", tt.valid, tt.flags, got, tt.active)
		}
	}
}

func TestActiveCopyBoolean(t *testing.T) {
	both := [2]bool{true, true}
	tests := []struct {
		flags  [2]byte
		active int
	}{
		{[2]byte{flagActive, flagObsolete}, 0},
		{[2]byte{flagObsolete, flagActive}, 1},
		{[2]byte{flagActive, flagActive}, 0}, // power cut before the old copy was marked obsolete
		{[2]byte{0xff, flagActive}, 0},       // an erased flag wins
		{[2]byte{flagActive, 0xff}, 1},
	}
	for _, tt := range tests {
		if got := activeCopy(boolean, both, tt.flags); got != tt.active {
			t.Errorf("activeCopy(boolean, flags %v) = %d, want %d", tt.flags, got, tt.active)
		}
	}
}

func TestNextFlag(t *testing.T) {
	for cur, want := range map[byte]byte{0: 1, 7: 8, 254: 255, 255: 0} {
		if got := nextFlag(incremental, cur); got != want {
			t.Errorf("nextFlag(incremental, %d) = %d, want %d", cur, got, want)
		}
	}
	if got := nextFlag(boolean, flagObsolete); got != flagActive {
		t.Errorf("nextFlag(boolean) = %d, want %d", got, flagActive)
	}
}
