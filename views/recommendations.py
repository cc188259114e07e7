"""Recommendations: a user's top picks with reasons, similar items, push lists and how good it is."""

import math

import pandas as pd
import streamlit as st

from engine.errors import PondError
from engine.predictions.recommend.models import FEATURES
from ui import charts, data, recs, widgets
from ui.page import page_context

st.title("Recommendations")
page = page_context()
path, version = page.path, page.version

job = recs.job(path)
try:
    recommender = recs.model(path)
except PondError as exc:  # an unreadable file: train again
    st.warning(str(exc))
    recommender = None


@st.fragment(run_every=1.0)
def training_progress() -> None:
    """Poll the background training; reload the page once it has finished."""
    current = recs.job(path)
    if current is None:
        return
    if current.running:
        st.progress(min(current.fraction, 1.0), text=f"Training the recommender on data version "
                    f"{current.version}: {current.message}")
    elif current.error:
        st.error(f"Training failed: {current.error}")
    elif recommender is None or not recommender.is_current(current.fingerprint):
        st.rerun()


events_now = recs.fingerprint(path, version)
needs_training = recommender is None or not recommender.is_current(events_now)
if needs_training and (job is None or (job.done and job.fingerprint != events_now)):
    # once per change of the events, in the background: nobody waits on this page for a fit
    job = recs.start_training(path, version, events_now)
if recommender is None and job is not None and job.error:
    widgets.empty_state(f"No recommendations yet: {job.error}",
                        hint="Once the data has item views, carts or purchases, open this page again "
                             "or run `python -m engine train recs`.")
    st.stop()
if job is not None and (job.running or job.error):
    training_progress()
if recommender is None:
    widgets.empty_state("The recommender is being trained for the first time.",
                        hint="This page fills in by itself when it finishes (usually well under a minute). "
                             "From a terminal: `python -m engine train recs`.")
    st.stop()

info = recommender.info
stale = not recommender.is_current(events_now)
status = (f"Model trained {info.get('trained_at', '?')} on {info.get('interactions', 0):,} user–item–day "
          f"interactions up to {recommender.trained_on()} (data version {recommender.data_version}).")
if stale:
    st.warning(status + f" The events have changed since (the warehouse is at version {version}); these "
               "picks are from the previous data until retraining finishes.", icon=":material/update:")
else:
    st.caption(status)
if not stale and st.button("Retrain now", key="recs-retrain", help="Training runs in the background."):
    recs.start_training(path, version, events_now)
    st.rerun()

stamp = recs.model_stamp(path)
# only the open tab runs (on_change="rerun"): a page's first view pays for one tab's work
TABS = ["For a user", "Similar items", "Push list for a segment", "How good is it?"]
widgets.in_address({"recommendations-tab": ("tab", TABS), "recs-prefix": ("user", str)})
tab_user, tab_similar, tab_push, tab_eval = st.tabs(TABS, key="recommendations-tab", on_change="rerun")

items = recommender.items
categories = sorted(c for c in items["category"].dropna().unique())
prices = items["price"].dropna()
has_stock = items["in_stock"].notna().any()


def filter_widgets(key: str) -> tuple[int, tuple]:
    """The list options shared by the user and push-list tabs; returns (n, filters as a tuple)."""
    cols = st.columns([1, 1.4, 1.2, 1.6, 1])
    n = cols[0].number_input("How many", min_value=1, max_value=50, value=10, key=f"{key}-n")
    mode = cols[1].radio("Recommend", ["repeats allowed", "only new items"], key=f"{key}-mode",
                         help="Repeats: items the user already viewed or bought may come back (replenishment). "
                              "New: only items they never touched.")
    exclude_bought = cols[2].checkbox("Exclude already bought", key=f"{key}-bought")
    in_stock = cols[2].checkbox("In stock only", key=f"{key}-stock", disabled=not has_stock,
                                help=None if has_stock else "No imported item carries a stock flag.")
    category = cols[3].selectbox("Category", ["(all categories)", *categories], key=f"{key}-category")
    low, high = (0.0, 0.0) if prices.empty else (float(math.floor(prices.min())), float(math.ceil(prices.max())))
    band = (low, high)
    if high > low:
        band = cols[4].slider("Price band (¥)", low, high, (low, high), key=f"{key}-price")
    return int(n), recs.filters_key(
        include_seen=mode == "repeats allowed", exclude_bought=exclude_bought, in_stock_only=in_stock,
        category=None if category == "(all categories)" else category,
        min_price=band[0] if band[0] > low else None, max_price=band[1] if band[1] < high else None)


COLUMNS = {"score": st.column_config.ProgressColumn(
               "Score", min_value=0.0, max_value=1.0, format="%.2f",
               help="The blend's estimate of the chance the user takes the item in the next weeks."),
           "price": st.column_config.NumberColumn("Price (¥)", format="%.2f"),
           "reason_kind": None}

with tab_user:
    if tab_user.open:
        wanted = st.session_state.get("recs-prefix", "")  # a link's ?user= (see widgets.in_address)
        prefix = st.text_input("User id (or its beginning)", key="recs-prefix", placeholder="e.g. u00001")
        found = data.find_users(path, version, prefix)
        if found.empty:
            widgets.empty_state(f"No user id starts with “{prefix}”.",
                                hint="Check the id; User 360 looks users up too.")
        else:
            options = found["user_id"].tolist()
            user_id = st.selectbox(f"{len(options):,} matching users (most recently seen first)", options,
                                   index=options.index(wanted) if wanted in options else 0, key="recs-user")
            n, filters = filter_widgets("recs")
            try:
                picks = recs.recommend(path, stamp, user_id, n, filters)
            except PondError as exc:
                st.warning(str(exc))
                picks = None
            if picks is not None:
                if picks.empty:
                    widgets.empty_state("No item passes these filters.", hint="Widen the price band or the category.")
                else:
                    cold = (picks["reason_kind"] == "popular").all()
                    if cold:
                        st.info("This user has no item history the model knows, so these are the most popular "
                                "items of the last 30 days (cold start).", icon=":material/ac_unit:")
                    st.dataframe(picks, hide_index=True, column_config=COLUMNS)
                    widgets.csv_download(picks, f"pond-recs-{user_id}.csv", label="These picks as CSV", key="recs-csv")
                with st.expander("What the model knows of this user"):
                    taken = recs.history(path, stamp, user_id)
                    if taken.empty:
                        st.caption("No item interactions before the model's training day.")
                    else:
                        st.dataframe(taken, hide_index=True, column_config={"days_ago": "Days ago"})
                widgets.page_link("views/user360.py", label="Open this user in User 360",
                                  icon=":material/person_search:")

with tab_similar:
    if tab_similar.open:
        default_item = "" if items.empty else str(items["item_id"].iloc[0])
        item_id = st.text_input("Item id", value=default_item, key="recs-item",
                                help="Any item users interacted with; recommendation tables show item ids.")
        n_similar = st.number_input("How many", min_value=1, max_value=50, value=10, key="recs-similar-n")
        if item_id:
            try:
                similar = recs.similar_items(path, stamp, item_id.strip(), int(n_similar))
            except PondError as exc:
                st.warning(str(exc))
            else:
                row = items[items["item_id"] == item_id.strip()].iloc[0]
                price = "no price" if pd.isna(row["price"]) else f"¥{row['price']:,.2f}"
                st.caption(f"Item {row['item_id']} · {row['category'] or 'no category'} · {price}")
                st.dataframe(similar, hide_index=True, column_config={
                    "similarity": st.column_config.ProgressColumn("Similarity", min_value=0.0, max_value=1.0,
                                                                  format="%.2f",
                                                                  help="Relative to the most similar item."),
                    "price": st.column_config.NumberColumn("Price (¥)", format="%.2f")})
                widgets.csv_download(similar, f"pond-similar-{item_id.strip()}.csv", label="Similar items as CSV",
                                     key="recs-similar-csv")

with tab_push:
    if tab_push.open:
        saved = data.saved_segments(path, version)
        if saved.empty:
            widgets.empty_state("No saved segment yet.", hint="Build and save one on **Segments**, then come back "
                                "here for its push list.")
            widgets.page_link("views/segments.py", label="Go to Segments", icon=":material/donut_small:")
        else:
            name = st.selectbox("Saved segment", saved["name"].tolist(), key="recs-segment")
            n_push, push_filters = filter_widgets("push")
            if st.button("Build push list", key="recs-push", type="primary"):
                definition = saved.loc[saved["name"] == name, "definition"].iloc[0]
                members = data.segment_users(path, version, definition)["user_id"].astype(str)
                with st.spinner(f"Recommending for {len(members):,} users ..."):
                    st.session_state["recs-push-result"] = (name, recs.push_list(
                        path, stamp, tuple(members), int(n_push), push_filters), len(members))
            result = st.session_state.get("recs-push-result")
            if result and result[0] == name:
                _, push, members = result
                users = push["user_id"].nunique() if not push.empty else 0
                st.caption(f"{len(push):,} rows for {users:,} of the segment's {members:,} users"
                           + (f" ({members - users:,} joined after the model was trained)" if users < members else ""))
                st.dataframe(push.head(1000), hide_index=True, column_config=COLUMNS)
                widgets.csv_download(push.drop(columns="reason_kind"), f"pond-push-{name}.csv",
                                     label="Push list as CSV", key="recs-push-csv")

with tab_eval:
    if tab_eval.open:
        evaluation = info.get("evaluation") or {}
        if not evaluation or "error" in evaluation:
            widgets.empty_state("No offline evaluation for this model.",
                                hint=evaluation.get("error", "Train with evaluation to see it."))
        else:
            protocol = st.radio("Protocol", ["new", "repeat"], horizontal=True, key="recs-protocol",
                                format_func={"new": "new items only", "repeat": "repeats count"}.get,
                                help="New: only items a user never touched before the test period count as hits. "
                                     "Repeat: everything they took counts, and lists may repeat items.")
            result = evaluation[protocol]
            k = result["k"]
            table = recs.evaluation_table(evaluation, protocol)
            served = table[table["role"] == "served"].iloc[0]
            best = table[table["role"] == "baseline"].sort_values("ndcg").iloc[-1]
            gain = served["ndcg"] / best["ndcg"] - 1 if best["ndcg"] > 0 else float("inf")
            if served["ndcg"] > best["ndcg"]:
                st.success(f"The served model ({served['model']}) beats the best baseline ({best['model']}) on "
                           f"NDCG@{k}: {served['ndcg']:.3f} against {best['ndcg']:.3f} ({gain:+.0%}).")
            else:
                st.warning(f"The served model ({served['model']}) does not beat the {best['model']} baseline on "
                           f"NDCG@{k} ({served['ndcg']:.3f} against {best['ndcg']:.3f}) on this data.")
            st.caption(f"Test period: the last {result['holdout_days']} days (from {result['test_start']}); "
                       f"{result['users_evaluated']:,} users who took items both before and during it. "
                       "Every model was fitted on the days before only.")
            st.plotly_chart(charts.model_comparison(table, k=k), width="stretch")
            st.dataframe(table, hide_index=True, column_config={
                "ndcg": st.column_config.NumberColumn(f"NDCG@{k}", format="%.4f"),
                "precision": st.column_config.NumberColumn(f"Precision@{k}", format="%.4f"),
                "recall": st.column_config.NumberColumn(f"Recall@{k}", format="%.4f"),
                "hit_rate": st.column_config.NumberColumn(f"Hit rate@{k}", format="%.3f"),
                "coverage": st.column_config.NumberColumn("Catalogue coverage", format="%.3f"),
                "fit_seconds": st.column_config.NumberColumn("Fit time (s)", format="%.2f")})
            widgets.csv_download(table, f"pond-recs-evaluation-{protocol}.csv", label="Evaluation as CSV",
                                 key="recs-eval-csv")
            weights = pd.DataFrame({"signal": list(FEATURES),
                                    "weight": [recommender.model.blend_weights(protocol)[f] for f in FEATURES]})
            source = ("learned on a validation period before the test period" if info.get("blend_source") == "learned"
                      else "defaults: the data was too short to learn them")
            st.markdown(f"**What the served blend weighs**: logistic-regression weights on per-user scaled scores, "
                        f"{source}.")
            st.dataframe(weights, hide_index=True)
