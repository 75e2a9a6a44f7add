package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker: go build -ldflags "-X patchbay.dev/firmware/buildinfo.Version=…".
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is a binary's identity, as printed by every command's "version".
type Info struct {
	Binary    string `json:"binary"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	// Variant is GOARM or GOMIPS where the target has one ("7", "softfloat").
	Variant string `json:"variant,omitempty"`
}

// Read returns the identity of the running binary named binary.
func Read(binary string) Info {
	info := Info{
		Binary:    binary,
		Version:   Version,
		Commit:    Commit,
		Date:      Date,
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOARM", "GOMIPS", "GOMIPS64", "GOARM64", "GOAMD64":
				info.Variant = s.Value
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			}
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// String renders the identity on one line for people.
func (i Info) String() string {
	arch := i.OS + "/" + i.Arch
	if i.Variant != "" {
		arch += " (" + i.Variant + ")"
	}
	return fmt.Sprintf("%s %s commit %s built %s %s %s", i.Binary, i.Version, i.Commit, i.Date, i.GoVersion, arch)
}
