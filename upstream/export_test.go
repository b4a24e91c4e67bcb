package upstream

// Limits the external tests pad narinfos against.
const (
	MaxNarInfoSize         = maxNarInfoSize
	MaxUnsignedNarInfoSize = maxUnsignedNarInfoSize
)
