"""The relay (docs/api.md §14): forwards every stored event to a workspace's destinations, at least once and in
`seq` order, from a durable cursor in the store. `manager.Relay` runs inside `tracktion serve`."""
