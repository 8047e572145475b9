"""Adapters: the same producers, consumers and patterns on real infrastructure.

The core never imports this package.  Each adapter offers the public surface
of :class:`~evtlib.broker.Broker` (and a runner with the surface of
:class:`~evtlib.sim.Simulation`) over a real system, and needs its own
optional dependency:

* :mod:`evtlib.adapters.rabbitmq`: RabbitMQ over AMQP 0-9-1 with ``pika``
  (``pip install 'evtlib[rabbitmq]'``).
"""

__all__: list[str] = []
