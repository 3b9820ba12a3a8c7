//! The kinds of hub repository (models, datasets) and what differs between them: the cache
//! folder's prefix, the URL paths, what a message offers instead of the hub.

/// What kind of repository a [`HubId`](crate::HubId) names: the hub keeps models and datasets apart, in its
/// URLs (`/datasets/ORG/NAME/...`) and in the cache (`datasets--ORG--NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RepoKind {
    /// A model repository (the default): `ORG/NAME` on the hub, `models--ORG--NAME` cached.
    #[default]
    Model,
    /// A dataset repository: `datasets/ORG/NAME` on the hub, `datasets--ORG--NAME` cached.
    Dataset,
}

impl RepoKind {
    pub(crate) fn hf_type(self) -> hf_hub::RepoType {
        match self {
            Self::Model => hf_hub::RepoType::Model,
            Self::Dataset => hf_hub::RepoType::Dataset,
        }
    }

    /// The URL path segment before `ORG/NAME` (`datasets/`), and the one of the API
    /// (`models`, `datasets`).
    #[cfg(feature = "download")]
    pub(crate) fn url_prefix(self) -> (&'static str, &'static str) {
        match self {
            Self::Model => ("", "models"),
            Self::Dataset => ("datasets/", "datasets"),
        }
    }

    /// What a message offers besides the hub for this kind of repository (models: a local
    /// checkpoint).
    pub(crate) fn local_alternative(self) -> &'static str {
        match self {
            Self::Model => ", or pass a local checkpoint with --weights PATH",
            Self::Dataset => "",
        }
    }
}
