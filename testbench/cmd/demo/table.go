package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"patchbay.dev/gateway/store"
)

// table prints the fleet as the gateway's API has it: the devices of the
// tenant by board and version, then the A/B devices one per row, and the
// URLs to look at.
func (s *story) table(ctx context.Context, ws []*watch) error {
	list := s.gw.api + "/api/v1/devices?tenant=" + tenant
	var all struct {
		Devices []store.Device `json:"devices"`
	}
	if err := getJSON(ctx, list, &all); err != nil {
		return fmt.Errorf("read the fleet from the gateway: %w", err)
	}
	type key struct{ board, version string }
	type count struct{ devices, online int }
	counts := map[key]*count{}
	for _, d := range all.Devices {
		k := key{d.Board, d.Version}
		if counts[k] == nil {
			counts[k] = &count{}
		}
		counts[k].devices++
		if d.Status == "online" {
			counts[k].online++
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.board, b.board), cmp.Compare(a.version, b.version)) })

	var b strings.Builder
	fmt.Fprintf(&b, "\nFleet of tenant %s at the gateway: %d devices by board and version\n\n", tenant, len(all.Devices))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BOARD\tVERSION\tDEVICES\tONLINE")
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\n", orDash(k.board), orDash(k.version), counts[k].devices, counts[k].online)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nA/B devices running the real agent\n\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  DEVICE\tBOARD\tVERSION\tSTATUS\tPHASE\tREBOOTS\tLAST OUTCOME")
	for _, w := range ws {
		d := w.last
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", w.dev.id, orDash(d.Board), orDash(d.Version), orDash(d.Status), orDash(d.Phase), w.dev.boots.Load(), outcome(d))
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nLook at the fleet: %s\n", list)
	if len(ws) > 0 {
		fmt.Fprintf(&b, "One device:        %s/api/v1/devices/%s/%s\n", s.gw.api, tenant, ws[len(ws)-1].dev.id)
	}
	fmt.Fprintf(&b, "Agents' logs:      %s/devices/*/agent.log; gateway: %s/gateway/gateway.log\n", s.rel(s.o.dir), s.rel(s.o.dir))
	if !s.o.keep {
		fmt.Fprintf(&b, "The demo stops everything now; to keep the gateway and the devices running: bash testbench/demo.sh --keep\n")
	}
	b.WriteString("\n")
	s.tl.text(b.String())
	return nil
}

// outcome renders a device's last update outcome.
func outcome(d store.Device) string {
	if d.State == nil || d.State.Update.LastOutcome == nil {
		return "-"
	}
	o := d.State.Update.LastOutcome
	s := fmt.Sprintf("%s %s → %s", o.Result, o.FromVersion, o.ToVersion)
	if o.Reason != "" && o.Reason != "installed" {
		s += " (" + o.Reason + ")"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
