"""Operations: what every process needs to be run and watched safely.

Metrics (``metrics``), logs (``logs``), traces (``tracing``), the health and metrics app
(``app``), HTTP listeners (``server``), TLS contexts and credentials (``tls``), and who is
calling (``auth``).
"""
