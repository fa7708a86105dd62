package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// An unknown email is checked against dummyHash so that it takes as long
// as a wrong password. That holds only while dummyHash was made with the
// parameters HashPassword uses now: raise argon2id's memory or passes and
// forget the constant, and an attacker could tell unknown emails from
// known ones by the time a sign-in takes.
func TestDummyHashCostsWhatAPasswordCosts(t *testing.T) {
	params := func(hash string) string {
		parts := strings.Split(hash, "$")
		if len(parts) != 6 {
			t.Fatalf("%q is not a PHC string", hash)
		}
		return strings.Join(parts[:4], "$")
	}
	if got, want := params(dummyHash), params(HashPassword("x")); got != want {
		t.Errorf("dummyHash was made with %s, passwords are hashed with %s: make it again with HashPassword", got, want)
	}
	if CheckPassword(dummyHash, "") || CheckPassword(dummyHash, "doorway-dummy-password") {
		t.Error("dummyHash matches a password somebody could guess")
	}
}

// Each argon2id holds 19 MiB while it runs: a burst of sign-ins must not
// run more of them at once than there are cores.
func TestPasswordHashingIsBoundedByTheCores(t *testing.T) {
	argonPeak.Store(0)
	burst := 3*cap(argonSlots) + 2 // more than the cores, on any machine
	done := make(chan bool, burst)
	for i := range burst {
		go func() { done <- CheckPassword(dummyHash, strings.Repeat("p", i+1)) }()
	}
	for range burst {
		if <-done {
			t.Fatal("a guess matched dummyHash")
		}
	}
	if peak, cores := argonPeak.Load(), cap(argonSlots); peak > int32(cores) || peak < 1 {
		t.Errorf("%d argon2id computations ran at once on %d cores", peak, cores)
	}
}

// A sign-in waiting for its turn to hash gives up when its request is
// gone, instead of hashing for a client that left.
func TestAWaitingSignInGivesUpWithItsRequest(t *testing.T) {
	for range cap(argonSlots) { // every core busy hashing
		argonSlots <- struct{}{}
	}
	defer func() {
		for range cap(argonSlots) {
			<-argonSlots
		}
	}()
	argonPeak.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := checkPassword(ctx, dummyHash, "a guess")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("checkPassword after its request was cancelled = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("checkPassword still waits for a turn to hash after its request was cancelled")
	}
	if argonPeak.Load() != 0 {
		t.Error("the cancelled sign-in hashed its password anyway")
	}
}
