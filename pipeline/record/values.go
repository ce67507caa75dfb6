package record

// b2u is a boolean as ClickHouse's UInt8.
func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
