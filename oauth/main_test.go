package oauth_test

import (
	"os"
	"testing"

	"github.com/doorwayhq/doorway/internal/pgtest"
)

// TestMain stops the throwaway PostgreSQL that DOORWAY_TEST_STORE=postgres
// starts.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
