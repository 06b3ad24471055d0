"""The demo's made-up data: users, their logins and their orders, the same on every run."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCOUNTS",
    "ORDERS",
    "SERVICE_ACCOUNT",
    "USERS",
    "Account",
    "Order",
    "User",
]


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    tenant_id: str


@dataclass(frozen=True)
class Account:
    """A login of the auth service; ``user_id`` is empty for a service account."""

    username: str
    password: str
    user_id: str
    tenant_id: str


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    item: str
    quantity: int
    total_cents: int
    tracking_number: str


_NAMES = (
    "Alice Liddell", "Bob Builder", "Carol Danvers", "Dave Bowman", "Erin Brockovich",
    "Frank Poole", "Grace Hopper", "Heidi Klum", "Ivan Drago", "Judy Hopps",
    "Karl Popper", "Lara Croft", "Mallory Knox", "Niles Crane", "Olivia Pope",
    "Peggy Carter", "Quentin Coldwater", "Rupert Giles", "Sybil Trelawney", "Trent Reznor",
)  # fmt: skip
_TENANTS = ("acme", "globex", "initech")
_ITEMS = (
    ("trace-shaped mug", 1450), ("span sticker pack", 399), ("latency socks", 1200),
    ("gRPC hoodie", 5900), ("flame graph poster", 2500), ("sampler keyring", 650),
)  # fmt: skip

USERS: tuple[User, ...] = tuple(
    User(
        id=index + 1,
        name=name,
        email=f"{name.split()[0].lower()}@{_TENANTS[index % 3]}.example",
        tenant_id=_TENANTS[index % 3],
    )
    for index, name in enumerate(_NAMES)
)

ACCOUNTS: tuple[Account, ...] = (
    Account("alice", "wonderland", "1", "acme"),
    Account("bob", "builder", "2", "globex"),
    Account("carol", "captain", "3", "initech"),
)
"""People who can log in through the gateway (demo passwords, printed in the docs)."""

SERVICE_ACCOUNT = Account("user-service", "user-service-demo-secret", "", "")
"""How the user service identifies itself to the auth service."""


def _orders() -> tuple[Order, ...]:
    orders = []
    next_id = 1001
    for user in USERS:
        for number in range(2 + user.id % 3):
            item, price = _ITEMS[(user.id + number) % len(_ITEMS)]
            quantity = 1 + (user.id * 7 + number) % 3
            orders.append(
                Order(
                    id=next_id,
                    user_id=user.id,
                    item=item,
                    quantity=quantity,
                    total_cents=price * quantity,
                    tracking_number=f"PX{next_id * 7919 % 1_000_000:06d}",
                )
            )
            next_id += 1
    return tuple(orders)


ORDERS = _orders()
