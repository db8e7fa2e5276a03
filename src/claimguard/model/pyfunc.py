"""The MLflow pyfunc flavour of a claimguard bundle (imported only when MLflow is used).

Why pyfunc: a registered model must score through plain MLflow
(``mlflow.pyfunc.load_model("models:/NAME@champion").predict(features)``) with exactly
the bundle's scores, so the flavour wraps the saved bundle file itself.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from claimguard.model.registry import BUNDLE_ARTIFACT


class ClaimguardModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """predict(features) → score, forest_score, rule_score, hard_facts, rule_hits per row.

    The entity type comes from ``params={"entity_type": ...}`` or, when absent, from the
    feature names (every forest and evidence feature of one entity type must be present).
    """

    def load_context(self, context: Any) -> None:
        from claimguard.model.bundle import load_bundle

        self.bundle = load_bundle(context.artifacts[BUNDLE_ARTIFACT])

    def _entity(self, columns: pd.Index, params: dict[str, Any] | None) -> str:
        if params and params.get("entity_type"):
            return str(params["entity_type"])
        have = set(map(str, columns))
        for entity in self.bundle.feature_names:
            if set(self.bundle.required_features(entity)) <= have:
                return str(entity)
        raise ValueError("input lacks the features of every entity type of this model")

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        entity = self._entity(model_input.columns, params)
        return self.bundle.score_entity(entity, model_input)
