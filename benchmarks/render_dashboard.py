"""Render the Grafana dashboard's panels from a live 4-validator network under load, without Grafana.

Grafana is not installable here (no Debian or PyPI package), so this runs the network itself,
scrapes every node's /metrics every ``--interval`` seconds while a steady load runs (signed
transactions spread over the nodes, some re-sent to be refused as duplicates, RPC reads, a
call to a method that does not exist), stops the PBFT primary for a while half way (a view
change, then its catch-up), and draws each panel of ``docs/grafana/consortia-dashboard.json``
with matplotlib: the same query shapes, evaluated in Python over the scrapes
(``dashboard_panels.evaluate``). Each panel's PromQL is printed under its title.

    python benchmarks/render_dashboard.py [--seconds 80] [--out docs/grafana/dashboard.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from dashboard_panels import PANELS, Samples, evaluate, write_json  # type: ignore[import-not-found]
from prometheus_client.parser import text_string_to_metric_families

from node.bench import presign
from node.devnet import LocalNet, make_local_net

OUT = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "dashboard.png"
RATE = 120  # transactions offered per second


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: object) -> object:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as resp:
        return (await resp.json()).get("result")


async def scrape_all(session: aiohttp.ClientSession, net: LocalNet) -> dict[str, Samples]:
    out = {}
    for n in net.nodes:
        try:
            async with session.get(n.url + "/metrics", timeout=aiohttp.ClientTimeout(total=3)) as resp:
                out[n.name] = parse(await resp.text())
        except (aiohttp.ClientError, TimeoutError):
            pass  # a stopped node has no samples: its lines break, as in Grafana
    return out


async def load(session: aiohttp.ClientSession, net: LocalNet, txs: list[str], stop: asyncio.Event) -> None:
    sent = 0
    batch = RATE // 4
    while not stop.is_set() and sent < len(txs):
        node = net.nodes[(sent // batch) % len(net.nodes)]
        chunk = txs[sent:sent + batch]
        body = [{"jsonrpc": "2.0", "id": i, "method": "tx_send", "params": [raw]} for i, raw in enumerate(chunk)]
        if sent and sent % (batch * 8) == 0:  # now and then re-send a few: refused as duplicates
            body += [{"jsonrpc": "2.0", "id": 1000 + i, "method": "tx_send", "params": [raw]} for i, raw in enumerate(txs[sent - 5:sent])]
        body.append({"jsonrpc": "2.0", "id": 2000, "method": "chain_blockNumber"})
        body.append({"jsonrpc": "2.0", "id": 2001, "method": "node_info"})
        if sent % (batch * 12) == 0:
            body.append({"jsonrpc": "2.0", "id": 2002, "method": "no_such_method"})
        try:
            async with session.post(node.url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
        except aiohttp.ClientError:
            pass  # the stopped node: its share is lost, as a client's would be
        sent += len(chunk)
        await asyncio.sleep(0.25)


async def primary_index(session: aiohttp.ClientSession, net: LocalNet) -> int:
    info = await rpc(session, net.nodes[0].url, "node_info")
    primary = info["engine"]["primary"] if isinstance(info, dict) else None
    return next((i for i, n in enumerate(net.nodes) if "0x" + n.key.public_bytes.hex() == primary), 3)


async def run(seconds: float, interval: float) -> list[tuple[float, dict[str, Samples]]]:
    with tempfile.TemporaryDirectory(prefix="consortia-dashboard-") as tmp:
        net = make_local_net(Path(tmp), "std", validators=4, admins=4, participation_rate=0, win_rate=1,
                             params={"block_tx_limit": 5_000, "min_seal_ms": 50, "block_interval_ms": 200,
                                     "consensus_timeout_ms": 2_000, "tx_expiry_window": 1_000_000})
        txs = presign("std", net.genesis.chain_id, [k.private_bytes for k in net.admins], int(RATE * seconds), expiry=900_000)
        net.start()
        scrapes: list[tuple[float, dict[str, Samples]]] = []
        try:
            await net.wait_ready(60)
            async with aiohttp.ClientSession() as session:
                while min([len(await rpc(session, n.url, "node_peers") or []) for n in net.nodes]) < 3:  # type: ignore[arg-type]
                    await asyncio.sleep(0.2)
                stop = asyncio.Event()
                loader = asyncio.create_task(load(session, net, txs, stop))
                t0 = time.monotonic()
                victim, stopped, restarted = await primary_index(session, net), False, False
                while (t := time.monotonic() - t0) < seconds:
                    scrapes.append((t, await scrape_all(session, net)))
                    if not stopped and t > seconds * 0.4:
                        net.nodes[victim].kill9()  # the primary goes away: a view change, then catch-up
                        stopped = True
                    elif stopped and not restarted and t > seconds * 0.6:
                        net.nodes[victim].start()
                        restarted = True
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0 - t)))
                stop.set()
                await loader
        finally:
            net.stop()
        return scrapes


def with_gaps(points: list[tuple[float, float]], gap: float) -> tuple[list[float], list[float]]:
    """The points as x and y, broken (NaN) where scrapes are missing, e.g. while a node is stopped."""
    xs: list[float] = []
    ys: list[float] = []
    for t, v in points:
        if xs and t - xs[-1] > gap:
            xs.append(t)
            ys.append(float("nan"))
        xs.append(t)
        ys.append(v)
    return xs, ys


def draw(scrapes: list[tuple[float, dict[str, Samples]]], window: float, out: Path, gap: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = (len(PANELS) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(18, 3.1 * rows), facecolor="#111217")
    for ax, panel in zip(axes.flat, PANELS):
        ax.set_facecolor("#181b1f")
        for series, points in sorted(evaluate(panel, scrapes, window).items()):
            if points:
                xs, ys = with_gaps(points, gap)
                ax.plot(xs, ys, label=series or "all", linewidth=1.3)
        ax.set_title(panel.title, color="white", fontsize=10, loc="left")
        ax.text(0, 1.0, panel.expr().replace("$__rate_interval", f"{window:.0f}s"), transform=ax.transAxes, fontsize=5.5,
                color="#8e8e8e", va="bottom")
        ax.tick_params(colors="#cccccc", labelsize=7)
        for spine in ax.spines.values():
            spine.set_color("#333")
        ax.grid(color="#2a2d33", linewidth=0.5)
        if panel.unit == "s":
            ax.set_ylabel("seconds", color="#999", fontsize=7)
        elif panel.unit == "bytes":
            ax.set_ylabel("bytes", color="#999", fontsize=7)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=6, facecolor="#181b1f", labelcolor="#cccccc", edgecolor="#333", ncol=2, loc="upper left")
    for ax in list(axes.flat)[len(PANELS):]:
        ax.set_visible(False)
    fig.suptitle("Consortia node — 4 PBFT validators on loopback under load (primary stopped from 40% to 60% of the run); "
                 "rendered from /metrics scrapes, not by Grafana", color="white", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=80.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between scrapes")
    parser.add_argument("--window", type=float, default=10.0, help="rate window in seconds ($__rate_interval)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    write_json()  # the dashboard and the picture always come from the same panel list
    scrapes = asyncio.run(run(args.seconds, args.interval))
    draw(scrapes, args.window, args.out, gap=args.interval * 1.8)
    print(f"{len(scrapes)} scrapes -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
