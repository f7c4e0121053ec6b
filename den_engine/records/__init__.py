"""Run records on disk (versioned JSON plus safetensors), the metrics computed from them, re-evaluation."""
