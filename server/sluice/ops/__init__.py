"""Operations: metrics, the ops HTTP app, logs and tracing."""
