"""Handlers per update type, routers that nest, first match wins, error handlers.

One observer per update type (aiogram's design): registration appends to a list per type;
the first update compiles every router's lists into one table, after which dispatching is
one dict lookup and a short loop.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast, overload

from .commands import MenuEntry, Scope, menu_entries, pop_menu_keywords
from .filters import Filter, Predicate, build_filter
from .update import UPDATE_TYPES, Update

HandlerFn = Callable[[Update], Any]
ErrorHandlerFn = Callable[[BaseException, Update], Any]
BeforeFn = Callable[[Update], Any]
AfterFn = Callable[[Update, Any], Any]
TeardownFn = Callable[[Update, BaseException | None], Any]
H = TypeVar("H", bound=HandlerFn)
E = TypeVar("E", bound=ErrorHandlerFn)
X = TypeVar("X", bound=BaseException)
T = TypeVar("T", bound=Callable[..., Any])
R = TypeVar("R")
B = TypeVar("B", bound=BeforeFn)
A = TypeVar("A", bound=AfterFn)
D = TypeVar("D", bound=TeardownFn)
M = TypeVar("M", bound=Callable[[Any], Any])

logger = logging.getLogger("flask_tgwebhook")


def qualified_name(fn: Any) -> str:
    """``module:qualname`` of a function, for listings and logs."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


class _Unhandled:
    """Marker returned by :meth:`HandlerTable.dispatch` when no handler matched."""

    def __repr__(self) -> str:
        return "UNHANDLED"


UNHANDLED: Any = _Unhandled()


class Handler:
    """One registered handler: the update type, the function and its (combined) filter."""

    __slots__ = ("callback", "filter", "router", "update_type")

    def __init__(
        self, update_type: str, callback: HandlerFn, filter: Filter | None, router: Router
    ) -> None:
        self.update_type = update_type
        self.callback = callback
        self.filter = filter
        self.router = router

    @property
    def name(self) -> str:
        """``module:qualname`` of the handler function, for listings and logs."""
        return qualified_name(self.callback)

    def __repr__(self) -> str:
        return f"<Handler {self.update_type} {self.name} filter={self.filter!r}>"


class Failure:
    """What :meth:`HandlerTable.dispatch` returns when a handler (or filter) raised."""

    __slots__ = ("error", "handled", "value")

    def __init__(self, error: Exception, handled: bool, value: Any) -> None:
        self.error = error
        #: True when an error handler took the exception.
        self.handled = handled
        #: What the error handler returned (maybe a :func:`reply`).
        self.value = value


def setupmethod(method: T) -> T:
    """Refuse registration once updates are being handled (Flask's ``setupmethod``)."""

    @functools.wraps(method)
    def wrapper(self: Router, *args: Any, **kwargs: Any) -> Any:
        if self._frozen:
            raise RuntimeError(
                f"Router {self.name!r} can no longer be changed ({method.__name__.lstrip('_')}): "
                "it has already handled its first update. Register every handler and include "
                "every router before the app starts serving."
            )
        return method(self, *args, **kwargs)

    return cast(T, wrapper)


class Observer:
    """The decorator for one update type: ``@router.message`` or ``@router.message(...)``."""

    def __init__(self, update_type: str) -> None:
        self.update_type = update_type

    @overload
    def __get__(self, router: None, owner: type) -> Observer: ...
    @overload
    def __get__(self, router: Router, owner: type) -> BoundObserver: ...
    def __get__(self, router: Router | None, owner: type) -> Observer | BoundObserver:
        if router is None:
            return self
        return BoundObserver(router, self.update_type)


class BoundObserver:
    __slots__ = ("router", "update_type")

    def __init__(self, router: Router, update_type: str) -> None:
        self.router = router
        self.update_type = update_type

    # A Filter is callable with an update too, so it must be matched before the bare form.
    @overload
    def __call__(
        self, first: Filter, /, *filters: Predicate, **keywords: Any
    ) -> Callable[[H], H]: ...
    @overload
    def __call__(self, fn: H, /) -> H: ...
    @overload
    def __call__(self, *filters: Predicate, **keywords: Any) -> Callable[[H], H]: ...
    # mypy cannot match signature 1's positional-only parameter to *filters; it does accept it.
    def __call__(self, *filters: Any, **keywords: Any) -> Any:  # type: ignore[misc]
        # Bare form: a lone plain function (not a Filter) with no keywords is the handler.
        if len(filters) == 1 and not keywords and _is_bare_handler(filters[0]):
            self.router.add_handler(self.update_type, filters[0])
            return filters[0]
        return self.router.on(self.update_type, *filters, **keywords)


def _check_update_type(update_type: str) -> None:
    if not isinstance(update_type, str) or not update_type or update_type == "update_id":
        raise ValueError(f"{update_type!r} is not an update type; use e.g. 'message'.")


def _is_bare_handler(value: Any) -> bool:
    return inspect.isfunction(value) or inspect.ismethod(value)


class Router:
    """A set of handlers, like a Blueprint; include it with :meth:`include_router`.

    :param name: shown in ``flask tg handlers`` and error messages; defaults to the
        module that created the router.
    """

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            frame = inspect.currentframe()
            caller = frame.f_back if frame is not None else None
            name = caller.f_globals.get("__name__", "router") if caller is not None else "router"
        self.name: str = name
        self.handlers: dict[str, list[Handler]] = {}
        self.error_handlers: dict[type[BaseException], ErrorHandlerFn] = {}
        self.routers: list[Router] = []
        self.parent: Router | None = None
        #: Commands declared for Telegram's menu (see :mod:`flask_tgwebhook.commands`).
        self.menu: list[MenuEntry] = []
        #: Hooks around every update this router's handlers (or its routers') take, like a
        #: Blueprint's ``before_request``; the root router's run for every update.
        self.before_update_funcs: list[BeforeFn] = []
        self.after_update_funcs: list[AfterFn] = []
        self.teardown_update_funcs: list[TeardownFn] = []
        #: Album handlers (see :meth:`media_group`); the first one in dispatch order is used.
        self.album_handlers: list[Callable[[Any], Any]] = []
        self._frozen = False

    message = Observer("message")
    edited_message = Observer("edited_message")
    channel_post = Observer("channel_post")
    edited_channel_post = Observer("edited_channel_post")
    business_connection = Observer("business_connection")
    business_message = Observer("business_message")
    edited_business_message = Observer("edited_business_message")
    deleted_business_messages = Observer("deleted_business_messages")
    guest_message = Observer("guest_message")
    message_reaction = Observer("message_reaction")
    message_reaction_count = Observer("message_reaction_count")
    inline_query = Observer("inline_query")
    chosen_inline_result = Observer("chosen_inline_result")
    callback_query = Observer("callback_query")
    shipping_query = Observer("shipping_query")
    pre_checkout_query = Observer("pre_checkout_query")
    purchased_paid_media = Observer("purchased_paid_media")
    poll = Observer("poll")
    poll_answer = Observer("poll_answer")
    my_chat_member = Observer("my_chat_member")
    chat_member = Observer("chat_member")
    chat_join_request = Observer("chat_join_request")
    chat_boost = Observer("chat_boost")
    removed_chat_boost = Observer("removed_chat_boost")
    managed_bot = Observer("managed_bot")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def on(self, update_type: str, *filters: Predicate, **keywords: Any) -> Callable[[H], H]:
        """Register for any update type by name, including ones newer than this version.

        Keywords build filters: ``commands``, ``text``, ``regex``, ``chat_type``,
        ``content_type``, ``data``; positional arguments are filters or plain callables.
        ``description`` (with ``commands``, and optionally ``scope`` and ``language``) also
        puts the commands in Telegram's menu (see :meth:`command_menu`).
        """
        _check_update_type(update_type)
        menu = pop_menu_keywords(keywords)
        combined = build_filter(filters, keywords)  # fail at decoration time, not at the update

        def decorator(fn: H) -> H:
            self._add(update_type, fn, combined)
            self._add_menu(menu)
            return fn

        return decorator

    def add_handler(
        self, update_type: str, fn: HandlerFn, *filters: Predicate, **keywords: Any
    ) -> None:
        """The non-decorator twin of :meth:`on`."""
        menu = pop_menu_keywords(keywords)
        self._add(update_type, fn, build_filter(filters, keywords))
        self._add_menu(menu)

    def command_menu(
        self,
        commands: str | list[str],
        description: str | dict[str, str],
        *,
        scope: Scope | list[Scope] = "default",
        language: str | None = None,
    ) -> None:
        """Put commands in Telegram's menu without registering a handler here.

        ``flask tg set-commands`` sends the menu to Telegram.

        :param description: the text, or a dict of language code to text (``""``: every
            language without its own menu).
        :param scope: ``"default"``, ``"all_private_chats"``, ``"all_group_chats"``,
            ``"all_chat_administrators"``, a BotCommandScope dict, or a list of these.
        :param language: the language a str ``description`` is for (default: every one).
        """
        self._add_menu(menu_entries(commands, description, scope, language))

    @setupmethod
    def _add_menu(self, entries: list[MenuEntry]) -> None:
        self.menu.extend(entries)

    @setupmethod
    def _add(self, update_type: str, fn: HandlerFn, combined: Filter | None) -> None:
        _check_update_type(update_type)
        if not callable(fn):
            raise TypeError(f"A handler must be callable with the update, got {fn!r}.")
        self.handlers.setdefault(update_type, []).append(Handler(update_type, fn, combined, self))

    # The class form comes first: an exception class is callable too.
    @overload
    def errorhandler(
        self, exc_class: type[X], /
    ) -> Callable[[Callable[[X, Update], R]], Callable[[X, Update], R]]: ...
    @overload
    def errorhandler(self, exc_class: E, /) -> E: ...
    def errorhandler(self, exc_class: Any, /) -> Any:
        """Register ``fn(exc, update)`` for an exception class raised by this router's handlers.

        Bare ``@router.errorhandler`` means ``Exception``. The error handler may return a
        :func:`reply` like a handler.
        """
        if not isinstance(exc_class, type):
            self.register_error_handler(Exception, exc_class)
            return exc_class

        def decorator(fn: Callable[[X, Update], R]) -> Callable[[X, Update], R]:
            self.register_error_handler(exc_class, fn)
            return fn

        return decorator

    @setupmethod
    def register_error_handler(self, exc_class: type[X], fn: Callable[[X, Update], Any]) -> None:
        """The non-decorator twin of :meth:`errorhandler`."""
        if not (isinstance(exc_class, type) and issubclass(exc_class, BaseException)):
            raise TypeError(f"{exc_class!r} is not an exception class.")
        # Only ever called with an instance of exc_class (see run_error_handlers).
        self.error_handlers[exc_class] = fn  # type: ignore[assignment]

    def media_group(self) -> Callable[[M], M]:
        """Register ``fn(album)`` for albums: every part of one ``media_group_id`` at once.

        Used as ``@tg.media_group()``. ``fn`` gets an :class:`~flask_tgwebhook.albums.Album`
        once no part arrived for ``TELEGRAM_MEDIA_GROUP_WAIT`` seconds, with the parts in
        message order, whichever workers they reached. While an album handler exists, album
        parts do not reach the ``message`` handlers.
        """

        def decorator(fn: M) -> M:
            self._add_album_handler(fn)
            return fn

        return decorator

    @setupmethod
    def _add_album_handler(self, fn: Callable[[Any], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"An album handler must be callable with the album, got {fn!r}.")
        self.album_handlers.append(fn)

    @setupmethod
    def before_update(self, fn: B) -> B:
        """Register ``fn(update)`` to run before the handler, like Flask's ``before_request``.

        Returning anything but ``None`` skips the handler: that value is the result (a
        :func:`reply`, say). A router's hooks run for updates one of its handlers takes; the
        extension's own run for every update.
        """
        self.before_update_funcs.append(fn)
        return fn

    @setupmethod
    def after_update(self, fn: A) -> A:
        """Register ``fn(update, result)`` to run after the handler returned.

        Returning anything but ``None`` replaces the result. Not run when the handler raised
        (error handlers and :meth:`teardown_update` hooks run then).
        """
        self.after_update_funcs.append(fn)
        return fn

    @setupmethod
    def teardown_update(self, fn: D) -> D:
        """Register ``fn(update, exception)`` to run last, even when the handler raised.

        ``exception`` is what the handler (or a hook) raised, else ``None``. What a teardown
        hook raises is logged and otherwise ignored, like Flask's ``teardown_request``.
        """
        self.teardown_update_funcs.append(fn)
        return fn

    @setupmethod
    def include_router(self, router: Router) -> Router:
        """Add ``router``'s handlers after this router's own (first match wins)."""
        if not isinstance(router, Router):
            raise TypeError(f"include_router() takes a Router, got {router!r}.")
        if router.parent is not None:
            raise RuntimeError(
                f"Router {router.name!r} is already included in {router.parent.name!r}; "
                "a router can be included once. Create a second Router instead."
            )
        ancestor: Router | None = self
        while ancestor is not None:
            if ancestor is router:
                raise RuntimeError(f"Including router {router.name!r} here would make a cycle.")
            ancestor = ancestor.parent
        router.parent = self
        self.routers.append(router)
        return router

    def iter_routers(self) -> Iterator[Router]:
        """This router and every included one, depth first, in dispatch order."""
        yield self
        for child in self.routers:
            yield from child.iter_routers()

    def iter_handlers(self) -> Iterator[Handler]:
        """Every handler, in dispatch order per update type."""
        for router in self.iter_routers():
            for handlers in router.handlers.values():
                yield from handlers

    @property
    def allowed_updates(self) -> list[str]:
        """The update types that have handlers, for setWebhook's ``allowed_updates``."""
        used = {h.update_type for h in self.iter_handlers()}
        if any(r.album_handlers for r in self.iter_routers()):
            used.add("message")
        known = [t for t in UPDATE_TYPES if t in used]
        return known + sorted(used.difference(UPDATE_TYPES))


class HandlerTable:
    """The compiled, read-only form of a router tree: update type → handlers in order."""

    __slots__ = ("album_handler", "album_router", "by_type", "hooked", "root", "scopes")

    def __init__(self, root: Router) -> None:
        by_type: dict[str, list[Handler]] = {}
        for router in root.iter_routers():
            router._frozen = True
            for update_type, handlers in router.handlers.items():
                by_type.setdefault(update_type, []).extend(handlers)
        # Plain tuples: unpacking them is cheaper than attribute access on every update.
        self.by_type: dict[str, tuple[tuple[Filter | None, HandlerFn, Handler], ...]] = {
            update_type: tuple((h.filter, h.callback, h) for h in handlers)
            for update_type, handlers in by_type.items()
        }
        self.root = root
        #: Each router's chain from the root down, for hooks scoped like Blueprints.
        self.scopes: dict[Router, tuple[Router, ...]] = {}
        for router in root.iter_routers():
            chain: list[Router] = []
            node: Router | None = router
            while node is not None:
                chain.append(node)
                node = node.parent
            self.scopes[router] = tuple(reversed(chain))
        #: The album handler, if any router has one (the first in dispatch order), and its
        #: router (whose error handlers come first when it raises).
        self.album_handler: Callable[[Any], Any] | None = None
        self.album_router: Router = root
        for router in root.iter_routers():
            if router.album_handlers:
                self.album_handler, self.album_router = router.album_handlers[0], router
                break
        #: Whether any router has hooks; without them dispatching takes the short path.
        self.hooked = any(
            r.before_update_funcs or r.after_update_funcs or r.teardown_update_funcs
            for r in root.iter_routers()
        )

    def dispatch(self, update: Update) -> Any:
        """Run the first matching handler; :data:`UNHANDLED` or a :class:`Failure` otherwise."""
        if self.hooked:
            return self._dispatch_hooked(update)
        entries = self.by_type.get(update.type)  # type: ignore[arg-type]
        if entries is None:
            return UNHANDLED
        handler: Handler | None = None
        try:
            for matches, callback, handler in entries:  # noqa: B007 (read in except)
                if matches is None or matches(update):
                    return callback(update)
        except Exception as exc:
            return run_error_handlers(exc, update, handler.router if handler else None)
        return UNHANDLED

    def match(self, update: Update) -> Handler | None:
        """The first handler whose filter takes ``update`` (a filter may raise)."""
        for matches, _, handler in self.by_type.get(update.type, ()):  # type: ignore[arg-type]
            if matches is None or matches(update):
                return handler
        return None

    def _dispatch_hooked(self, update: Update) -> Any:
        handler: Handler | None = None
        scope: tuple[Router, ...] = (self.root,)
        error: BaseException | None = None
        try:
            handler = self.match(update)
            if handler is not None:
                scope = self.scopes[handler.router]
            result = _run_before(scope, update)
            if result is None:
                result = handler.callback(update) if handler is not None else UNHANDLED
            for router in reversed(scope):
                for after in reversed(router.after_update_funcs):
                    replaced = after(update, result)
                    if replaced is not None:
                        result = replaced
            return result
        except Exception as exc:
            error = exc
            return run_error_handlers(exc, update, handler.router if handler else self.root)
        finally:
            _run_teardown(scope, update, error)


def _run_before(scope: tuple[Router, ...], update: Update) -> Any:
    for router in scope:
        for before in router.before_update_funcs:
            result = before(update)
            if result is not None:
                return result
    return None


def _run_teardown(scope: tuple[Router, ...], update: Update, error: BaseException | None) -> None:
    for router in reversed(scope):
        for teardown in reversed(router.teardown_update_funcs):
            try:
                teardown(update, error)
            except Exception:
                logger.exception(
                    "The teardown_update hook %s raised (ignored).", qualified_name(teardown)
                )


def run_error_handlers(exc: Exception, update: Update, router: Router | None) -> Failure:
    """Find the closest error handler: the handler's router first, then its parents."""
    while router is not None:
        for cls in type(exc).__mro__:
            fn = router.error_handlers.get(cls)
            if fn is not None:
                try:
                    return Failure(exc, True, fn(exc, update))
                except Exception as second:
                    second.__context__ = exc
                    return Failure(second, False, None)
        router = router.parent
    return Failure(exc, False, None)
