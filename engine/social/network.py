"""Share graph: who brought whom, who spreads, which groups form, and how viral growth is.

The graph is directed from referrer to referred user (a user's earliest event naming a
``referrer_id``). Key sharers are ranked by PageRank on the reversed graph (rank flows to the
people who bring others in), by out-degree, and by downstream reach: the users and GMV of
everyone their referrals led to, through whole cascades. Communities are Louvain partitions
(igraph's compiled multilevel method, fixed seed) of an undirected graph of referrals plus who
interacts with whom in groups (users engaging with the same group post, linked as a reply chain)
among the people in the referral graph. A cascade is a tree started by a user nobody referred;
its size counts every user in it and its depth the longest chain.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import duckdb
import igraph as ig
import networkx as nx
import pandas as pd

from engine.errors import PondError
from engine.store.warehouse import bind_named, business_timezone, compose_query, load_query

SEED = 7


@dataclass
class ShareGraph:
    graph: nx.DiGraph  # referrer -> referred, node attribute "gmv"
    sharers: pd.DataFrame  # user_id, referred, pagerank, reach_users, reach_gmv, community, channel
    cascades: pd.DataFrame  # root, size, depth
    interactions: int = 0  # group interaction links among referral-graph users, used for communities


def referral_edges(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(load_query("referral_edges")).df()


def share_graph(con: duckdb.DuckDBPyConnection) -> ShareGraph:
    """Build the referral graph and rank every user who brought someone in."""
    edges = referral_edges(con)
    graph = nx.DiGraph()
    for row in edges.itertuples(index=False):
        graph.add_edge(row.referrer_id, row.user_id)
    gmv = dict(zip(edges["user_id"], edges["user_gmv"], strict=True))
    roots_gmv = con.execute("select user_id, sum(gmv) from user_day where user_id in (select unnest($users)) "
                            "group by user_id", {"users": [n for n in graph if n not in gmv]}
                            ).fetchall() if len(graph) else []
    gmv.update(dict(roots_gmv))
    nx.set_node_attributes(graph, {n: float(gmv.get(n, 0.0)) for n in graph}, "gmv")
    if graph.number_of_nodes() == 0:
        empty = pd.DataFrame(columns=["user_id", "referred", "pagerank", "reach_users", "reach_gmv", "community",
                                      "channel"])
        return ShareGraph(graph, empty, pd.DataFrame(columns=["root", "size", "depth"]))
    pagerank = nx.pagerank(graph.reverse(copy=False), alpha=0.85)
    reach_users, reach_gmv = _reach(graph)
    # communities: referrals and who interacts with whom in groups, as one weighted undirected graph.
    # Only interactions among people in the referral graph count: communities are reported for sharers.
    social = nx.Graph()
    social.add_edges_from(graph.edges(), weight=1.0)
    interactions = [(a, b, w) for a, b, w in con.execute(load_query("interaction_edges")).fetchall()
                    if a in graph and b in graph]
    for a, b, weight in interactions:
        previous = social.get_edge_data(a, b, {"weight": 0.0})["weight"]
        social.add_edge(a, b, weight=previous + float(weight))
    communities = _louvain(social)
    community_of = {n: i + 1 for i, members in enumerate(sorted(communities, key=len, reverse=True))
                    for n in members}
    channels = dict(con.execute("select user_id, coalesce(acquisition_channel, '(unknown)') from users "
                                "where user_id in (select unnest($users))",
                                {"users": [n for n in graph if graph.out_degree(n)]}).fetchall())
    sharers = pd.DataFrame([
        {"user_id": n, "referred": graph.out_degree(n), "pagerank": pagerank[n], "reach_users": reach_users[n],
         "reach_gmv": reach_gmv[n], "community": community_of[n], "channel": channels.get(n, "(unknown)")}
        for n in graph if graph.out_degree(n) > 0])
    sharers = sharers.sort_values(["reach_users", "pagerank", "user_id"], ascending=[False, False, True])
    return ShareGraph(graph, sharers.reset_index(drop=True), _cascades(graph), len(interactions))


def _louvain(social: nx.Graph) -> list[set]:
    """Louvain communities of a weighted undirected graph, with igraph (networkx's pure-Python
    version took 3.3 s on the share graph of 10M events; this takes a fraction of a second)."""
    nodes = list(social)
    index = {node: i for i, node in enumerate(nodes)}
    edges, weights = [], []
    for a, b, weight in social.edges(data="weight"):
        edges.append((index[a], index[b]))
        weights.append(weight)
    ig.set_random_number_generator(random.Random(SEED))  # the same partition on every run
    parts = ig.Graph(n=len(nodes), edges=edges).community_multilevel(weights=weights)
    return [{nodes[i] for i in members} for members in parts]


def _reach(graph: nx.DiGraph) -> tuple[dict, dict]:
    """Descendants and their GMV per node, summed bottom-up (each user has one referrer: a forest)."""
    if not nx.is_directed_acyclic_graph(graph):
        raise PondError("the referral data has a loop (A brought B and B brought A); fix the referrer ids")
    users, money = {}, {}
    for node in reversed(list(nx.topological_sort(graph))):
        children = list(graph.successors(node))
        users[node] = sum(1 + users[c] for c in children)
        money[node] = sum(graph.nodes[c]["gmv"] + money[c] for c in children)
    return users, money


def _cascades(graph: nx.DiGraph) -> pd.DataFrame:
    rows = []
    for root in (n for n in graph if graph.in_degree(n) == 0):
        depths = nx.single_source_shortest_path_length(graph, root)
        rows.append({"root": root, "size": len(depths), "depth": max(depths.values())})
    return pd.DataFrame(rows).sort_values(["size", "root"], ascending=[False, True]).reset_index(drop=True)


def k_factor(con: duckdb.DuckDBPyConnection, *, period: str = "week") -> pd.DataFrame:
    """``period, channel, active_users, referred_users, k_factor`` (referred users / active users)."""
    if period not in ("day", "week", "month"):
        raise PondError(f"period must be day, week or month, not {period!r}")
    sql = compose_query("k_factor", edges="referral_edges")
    return con.execute(sql, bind_named(sql, {"period": period, "tz": business_timezone(con)})).df()


def top_subgraph(share: ShareGraph, *, top: int = 30, max_nodes: int = 300) -> nx.DiGraph:
    """The ``top`` sharers by reach with the users they brought in directly (at most ``max_nodes``)."""
    keep: list[str] = []
    for user in share.sharers["user_id"].head(top):
        for node in (user, *share.graph.successors(user)):
            if node not in keep and len(keep) < max_nodes:
                keep.append(node)
    return share.graph.subgraph(keep).copy()
