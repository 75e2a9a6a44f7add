package e2e

import (
	"testing"

	"patchbay.dev/testbench/services"
)

func TestMain(m *testing.M) { services.Main(m) }
