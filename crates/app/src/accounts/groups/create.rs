//! Adding a group, or cloning one under a free copy name.

use super::*;

impl App {
    /// `POST /api/v1/groups`.
    pub async fn create_group(
        &self,
        actor: &Actor,
        input: GroupInput,
    ) -> Result<GroupView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsCreate),
            &Target::Global,
        )?;
        let name = GroupName::parse(&input.name).map_err(bad)?;
        self.check_name_free(&name, None).await?;
        let scope = input
            .scope
            .map(PrinterScope::validate)
            .transpose()
            .map_err(bad)?;
        // A scoped group grants its printer rights only inside the scope: a scoped granter may
        // create it; an unscoped one would be wider than they are.
        self.check_may_grant(actor, &group_rights(&input.permissions, scope.as_ref()))
            .await?;
        let new = NewGroup {
            name,
            description: description(input.description)?,
            is_system: false,
            scope: scope_json(scope)?,
            permissions: permission_strings(&input.permissions),
        };
        let id = self
            .store
            .insert_group(&new, self.now())
            .await
            .map_err(|e| conflict_or(e, "A group with that name already exists."))?;
        self.audit(
            actor,
            AuditEvent::GroupCreate,
            Some(("group", id.to_string())),
            true,
            serde_json::json!({"name": new.name.as_str(), "permissions": new.permissions, "scope": new.scope}),
        )
        .await;
        self.get_group(&self.as_system_reader(actor), id).await
    }

    /// `POST /api/v1/groups/{id}/clone`: an editable copy (of any group, system ones too).
    pub async fn clone_group(
        &self,
        actor: &Actor,
        id: GroupId,
        name: Option<String>,
    ) -> Result<GroupView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::GroupsCreate),
            &Target::Global,
        )?;
        let source = self.get_group(&self.as_system_reader(actor), id).await?;
        let name = match name {
            Some(n) => n,
            None => self.free_copy_name(&source.name).await?,
        };
        self.create_group(
            actor,
            GroupInput {
                name,
                description: Some(source.description.clone()),
                permissions: source.permissions.clone(),
                scope: source.scope.clone(),
            },
        )
        .await
    }

    async fn free_copy_name(&self, base: &str) -> Result<String, AppError> {
        let taken: Vec<String> = self
            .store
            .list_groups()
            .await?
            .iter()
            .map(|g| g.name.key())
            .collect();
        let stem: String = base.chars().take(50).collect();
        (1..1000)
            .map(|i| {
                if i == 1 {
                    format!("{stem} (copy)")
                } else {
                    format!("{stem} (copy {i})")
                }
            })
            .find(|n| !taken.contains(&n.to_lowercase()))
            .ok_or_else(|| AppError::Conflict("Choose a name for the copy.".into()))
    }
}
