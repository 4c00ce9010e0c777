//go:build !race

package bubble_test

const raceOn = false
