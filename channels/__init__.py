"""Channel adapters (docs/channels/): one module per channel, the same small interface."""
